package com.melanomaexp.app

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import androidx.exifinterface.media.ExifInterface
import com.melanomaexp.core.ArgbImage
import com.melanomaexp.core.DecodedPhoto
import com.melanomaexp.core.ImageDecoder
import com.melanomaexp.core.Orientation
import java.io.ByteArrayInputStream

/**
 * The core's [ImageDecoder] on Android: BitmapFactory decodes in memory, the EXIF orientation is
 * applied by the core and then forgotten (only pixels leave this class). Big JPEGs are subsampled
 * by powers of two while both sides stay at least [minSide], like the server's JPEG draft mode.
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
        // ExifInterface reads the tag from JPEG, HEIF, WebP and PNG; the core turns the pixels upright
        // exactly as the server's exif_transpose does.
        val orientation = ExifInterface(ByteArrayInputStream(bytes))
            .getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        val pixels = IntArray(raw.width * raw.height)
        raw.getPixels(pixels, 0, raw.width, 0, 0, raw.width, raw.height) // unpremultiplied ARGB
        val upright = Orientation.apply(ArgbImage(raw.width, raw.height, pixels), orientation)
        raw.recycle()
        val swapsSides = Orientation.swapsSides(orientation)
        return DecodedPhoto(
            upright,
            originalWidth = if (swapsSides) bounds.outHeight else bounds.outWidth,
            originalHeight = if (swapsSides) bounds.outWidth else bounds.outHeight,
        )
    }

    /** Pillow's draft(): the largest of 1, 2, 4, 8 that keeps both sides at least [minSide]. */
    private fun jpegSampleSize(width: Int, height: Int): Int {
        val scale = minOf(width / minSide, height / minSide)
        return listOf(8, 4, 2, 1).first { it <= maxOf(scale, 1) }
    }
}
