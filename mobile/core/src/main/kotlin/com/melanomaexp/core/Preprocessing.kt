package com.melanomaexp.core

/**
 * A decoded, already upright photo as packed ARGB ints, row-major: the common ground of Android's
 * `Bitmap.getPixels` and the JVM's `BufferedImage.getRGB` (both unpremultiplied). Transparent pixels are
 * composited on white, as the serving app does.
 */
class ArgbImage(val width: Int, val height: Int, val pixels: IntArray) {
    init {
        require(width > 0 && height > 0) { "image must not be empty, got ${width}x$height" }
        require(pixels.size == width * height) { "image has ${pixels.size} pixels, expected ${width}x$height" }
    }

    /** The R, G and B planes (0-255, row-major) with transparency flattened onto white. */
    fun rgbPlanes(): List<IntArray> {
        val n = pixels.size
        val r = IntArray(n)
        val g = IntArray(n)
        val b = IntArray(n)
        for (i in 0 until n) {
            val p = pixels[i]
            val a = (p ushr 24) and 0xFF
            r[i] = onWhite((p shr 16) and 0xFF, a)
            g[i] = onWhite((p shr 8) and 0xFF, a)
            b[i] = onWhite(p and 0xFF, a)
        }
        return listOf(r, g, b)
    }

    private companion object {
        /**
         * One channel of Pillow's `alpha_composite(white, rgba)` in its own fixed-point arithmetic,
         * so semi-transparent PNGs give the same bytes here and on the server.
         */
        fun onWhite(value: Int, alpha: Int): Int {
            if (alpha == 255) return value
            if (alpha == 0) return 255
            val precision = 7
            val tmp = value * (alpha shl precision) + 255 * ((255 - alpha) shl precision) + (0x80 shl precision)
            return (((tmp shr 8) + tmp) shr 8) shr precision
        }
    }
}

/**
 * A decoded photo plus the size the upload had before any subsampling while decoding (the
 * quality gate judges resolution on the original, like the serving app).
 */
class DecodedPhoto(val image: ArgbImage, val originalWidth: Int = image.width, val originalHeight: Int = image.height)

/**
 * Decodes image bytes into an upright photo (EXIF orientation applied, EXIF then dropped).
 * The Android layer implements it with BitmapFactory + ExifInterface; the JVM tests with ImageIO.
 */
fun interface ImageDecoder {
    /** Throws [IllegalArgumentException] when [bytes] are not a decodable image. */
    fun decode(bytes: ByteArray): DecodedPhoto
}

/** The model input for one image: NHWC float32 RGB, batch 1. */
class ModelInput(val height: Int, val width: Int, val channels: Int, val values: FloatArray) {
    /** Mean of one channel over all pixels; used to check parity with the serving side. */
    fun channelMean(channel: Int): Double {
        require(channel in 0 until channels) { "channel $channel out of range 0..${channels - 1}" }
        var sum = 0.0
        for (i in channel until values.size step channels) sum += values[i]
        return sum / (height * width)
    }

    /** The value at ([y], [x], [channel]). */
    fun at(y: Int, x: Int, channel: Int): Float = values[(y * width + x) * channels + channel]
}

/**
 * Turns a decoded photo into the model input exactly as the serving app does: centre-crop to the
 * model's aspect ratio (unless model.json says stretch), resize with its method (Pillow-compatible),
 * keep RGB order, scale 0-255 to the stated range.
 * The model itself normalises, so nothing else happens here (contract 4).
 */
class Preprocessor(private val spec: InputSpec) {
    /** Returns the NHWC tensor for [image]. */
    fun toModelInput(image: ArgbImage): ModelInput {
        val box = cropBox(image.width, image.height)
        val planes = image.rgbPlanes().map { plane ->
            resizePlane(plane, image.width, image.height, spec.width, spec.height, spec.resizeMethod, box)
        }
        val scale = (spec.valueMax - spec.valueMin) / 255.0
        val n = spec.width * spec.height
        val values = FloatArray(n * 3)
        for (i in 0 until n) {
            for (c in 0 until 3) values[i * 3 + c] = (planes[c][i] * scale + spec.valueMin).toFloat()
        }
        return ModelInput(spec.height, spec.width, 3, values)
    }

    /** The serving app's centre crop to the model's aspect ratio, in the same integer arithmetic. */
    fun cropBox(w: Int, h: Int): CropBox {
        if (spec.resizeAspect == ResizeAspect.STRETCH) return CropBox(0, 0, w, h)
        val height = spec.height
        val width = spec.width
        return if (w.toLong() * height > h.toLong() * width) { // too wide: trim the sides
            val sideW = maxOf(1, (h.toLong() * width / height).toInt())
            CropBox((w - sideW) / 2, 0, (w - sideW) / 2 + sideW, h)
        } else { // too tall: trim top and bottom
            val sideH = maxOf(1, (w.toLong() * height / width).toInt())
            CropBox(0, (h - sideH) / 2, w, (h - sideH) / 2 + sideH)
        }
    }
}
