package com.melanomaexp.app

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Matrix
import androidx.exifinterface.media.ExifInterface
import com.melanomaexp.core.ArgbImage
import com.melanomaexp.core.DecodedPhoto
import com.melanomaexp.core.ImageDecoder
import java.io.ByteArrayInputStream

/**
 * The core's [ImageDecoder] on Android: BitmapFactory decodes in memory, EXIF orientation is applied
 * and then forgotten (only pixels leave this class). Big JPEGs are subsampled by powers of two while
 * both sides stay at least [minSide], like the server's JPEG draft mode.
 */
class BitmapImageDecoder(private val minSide: Int) : ImageDecoder {
    override fun decode(bytes: ByteArray): DecodedPhoto {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        BitmapFactory.decodeByteArray(bytes, 0, bytes.size, bounds)
        require(bounds.outWidth > 0 && bounds.outHeight > 0) { "not a decodable image (${bytes.size} bytes)" }
        val options = BitmapFactory.Options().apply {
            inPreferredConfig = Bitmap.Config.ARGB_8888
            inSampleSize = if (bounds.outMimeType == "image/jpeg") jpegSampleSize(bounds.outWidth, bounds.outHeight) else 1
        }
        val raw = BitmapFactory.decodeByteArray(bytes, 0, bytes.size, options)
            ?: throw IllegalArgumentException("not a decodable image (${bytes.size} bytes)")
        val orientation = ExifInterface(ByteArrayInputStream(bytes))
            .getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        val upright = applyOrientation(raw, orientation)
        val pixels = IntArray(upright.width * upright.height)
        upright.getPixels(pixels, 0, upright.width, 0, 0, upright.width, upright.height) // unpremultiplied ARGB
        if (upright !== raw) upright.recycle()
        raw.recycle()
        val swapsSides = orientation in SWAPPING_ORIENTATIONS
        return DecodedPhoto(
            ArgbImage(upright.width, upright.height, pixels),
            originalWidth = if (swapsSides) bounds.outHeight else bounds.outWidth,
            originalHeight = if (swapsSides) bounds.outWidth else bounds.outHeight,
        )
    }

    /** Pillow's draft(): the largest of 1, 2, 4, 8 that keeps both sides at least [minSide]. */
    private fun jpegSampleSize(width: Int, height: Int): Int {
        val scale = minOf(width / minSide, height / minSide)
        return listOf(8, 4, 2, 1).first { it <= maxOf(scale, 1) }
    }

    private fun applyOrientation(bitmap: Bitmap, orientation: Int): Bitmap {
        val m = Matrix()
        when (orientation) {
            ExifInterface.ORIENTATION_FLIP_HORIZONTAL -> m.setScale(-1f, 1f)
            ExifInterface.ORIENTATION_ROTATE_180 -> m.setRotate(180f)
            ExifInterface.ORIENTATION_FLIP_VERTICAL -> m.setScale(1f, -1f)
            ExifInterface.ORIENTATION_TRANSPOSE -> { m.setRotate(90f); m.postScale(-1f, 1f) }
            ExifInterface.ORIENTATION_ROTATE_90 -> m.setRotate(90f)
            ExifInterface.ORIENTATION_TRANSVERSE -> { m.setRotate(-90f); m.postScale(-1f, 1f) }
            ExifInterface.ORIENTATION_ROTATE_270 -> m.setRotate(-90f)
            else -> return bitmap
        }
        // filter = false: an exact pixel permutation, as Pillow's exif_transpose.
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, m, false)
    }

    private companion object {
        val SWAPPING_ORIENTATIONS = setOf(
            ExifInterface.ORIENTATION_TRANSPOSE, ExifInterface.ORIENTATION_ROTATE_90,
            ExifInterface.ORIENTATION_TRANSVERSE, ExifInterface.ORIENTATION_ROTATE_270,
        )
    }
}
