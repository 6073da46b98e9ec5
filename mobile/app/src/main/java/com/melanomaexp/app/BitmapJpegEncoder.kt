package com.melanomaexp.app

import android.graphics.Bitmap
import com.melanomaexp.core.ArgbImage
import com.melanomaexp.core.JpegEncoder
import java.io.ByteArrayOutputStream

/**
 * The core's [JpegEncoder] on Android: `Bitmap.compress` (libjpeg-turbo) of the opaque pixels the
 * core hands over; the bitmap carries no metadata, so the JPEG has no EXIF, GPS or device tags.
 */
object BitmapJpegEncoder : JpegEncoder {
    override fun encode(image: ArgbImage, quality: Int): ByteArray {
        val bitmap = Bitmap.createBitmap(image.pixels, image.width, image.height, Bitmap.Config.ARGB_8888)
        try {
            return ByteArrayOutputStream().use { out ->
                check(bitmap.compress(Bitmap.CompressFormat.JPEG, quality, out)) { "JPEG encoding failed" }
                out.toByteArray()
            }
        } finally {
            bitmap.recycle()
        }
    }
}
