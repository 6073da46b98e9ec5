package com.melanomaexp.core

import kotlin.math.round

/**
 * Encodes an opaque, upright photo as a baseline JPEG at [quality] (1-100), writing no metadata:
 * `Bitmap.compress` on Android, ImageIO in the JVM tests.
 */
fun interface JpegEncoder {
    fun encode(image: ArgbImage, quality: Int): ByteArray
}

/**
 * The photo as the app uploads it: a JPEG of [width] x [height] at [quality], made from a photo that
 * was [sourceWidth] x [sourceHeight] (upright) before any decoding or downscaling.
 */
class UploadJpeg(
    val bytes: ByteArray,
    val width: Int,
    val height: Int,
    val quality: Int,
    val sourceWidth: Int,
    val sourceHeight: Int,
) {
    /** Always JPEG, whatever the source format was. */
    val contentType: String get() = UploadPhoto.CONTENT_TYPE

    /** Whether the upload has fewer pixels than the photo it was made from. */
    val downscaled: Boolean get() = width != sourceWidth || height != sourceHeight
}

/**
 * Photos that fit the road they travel: before a photo is uploaded its long side is brought down to
 * model.json `quality_gate.upload_max_side_px` (never up), so a 12-50 MP phone photo (4-25 MB) becomes
 * a JPEG of a few hundred kB, far under the ~4.5 MB a base64 body may have on the Lambda path (6 MB
 * payload limit), fast on a mobile link, and carrying no more of the person than the model and the
 * quality gate need.
 *
 * The photo arrives decoded and upright (the [ImageDecoder] applied the EXIF orientation); it leaves
 * as an upright JPEG without metadata, transparency composited on white as the server does. The
 * downscale is Pillow's `Image.resize(size, Image.BOX)` bit for bit ([resizePlane]), so a server or a
 * test can reproduce the exact pixels: BOX averages the source area behind each output pixel, which
 * is what the server's DCT draft and its quality gate (`analysis_max_side_px`) do with a big photo.
 */
object UploadPhoto {
    const val CONTENT_TYPE = "image/jpeg"

    /** JPEG quality of the upload: visually lossless at this size, half the bytes of 95. */
    const val JPEG_QUALITY = 90

    /** The Lambda path's limit for a raw photo (6 MB payload, base64 adds a third: docs/deploy-lambda.md). */
    const val MAX_UPLOAD_BYTES = 4_500_000

    /** Tried in turn only if an encoding at [JPEG_QUALITY] is still over [MAX_UPLOAD_BYTES]. */
    internal val FALLBACK_QUALITIES = listOf(80, 70, 60, 50)

    /** The resampling of the downscale (Pillow's BOX, `Image.Resampling.BOX` on the Python side). */
    val RESAMPLING: ResizeMethod = ResizeMethod.BOX

    /** Rows (or columns) resampled at a time, so a 50 MP photo never needs a full copy per channel. */
    private const val STRIP = 256

    /** The long side uploads are downscaled to: the bundle's, or the export's default without a bundle. */
    fun maxSide(spec: ModelSpec?): Int = spec?.qualityGate?.uploadMaxSidePx ?: QualityGate.DEFAULT_UPLOAD_MAX_SIDE_PX

    /**
     * The upload's size for a [width] x [height] photo: unchanged when its long side is at most
     * [maxSide], otherwise scaled so the long side is [maxSide], each side rounded as Python's
     * `round()` does (half to even; `serving/quality.py` sizes its analysis copy the same way).
     */
    fun targetSize(width: Int, height: Int, maxSide: Int): Pair<Int, Int> {
        require(width > 0 && height > 0) { "photo must not be empty, got ${width}x$height" }
        require(maxSide > 0) { "upload_max_side_px must be positive, got $maxSide" }
        val longest = maxOf(width, height)
        if (longest <= maxSide) return width to height
        val scale = maxSide.toDouble() / longest
        return maxOf(1, round(width * scale).toInt()) to maxOf(1, round(height * scale).toInt())
    }

    /**
     * [image] with its long side at most [maxSide] (never upscaled), opaque: Pillow's
     * `image.convert("RGB")` (alpha on white, as the server) then `resize(targetSize, BOX)`, exactly.
     * Works through strips of the image, so the memory it adds is about the downscaled width times
     * the full height (horizontal pass first) — a few tens of MB for a 50 MP photo.
     */
    fun downscale(image: ArgbImage, maxSide: Int, method: ResizeMethod = RESAMPLING): ArgbImage {
        val w = image.width
        val h = image.height
        val (outW, outH) = targetSize(w, h, maxSide)
        if (outW == w && outH == h) return opaque(image.rgbPlanes(), w, h)
        // Pillow's pass order (see resizePlane): vertical first only when the height shrinks more
        // than twice as much as the width. The first pass runs strip by strip along the axis it keeps.
        val horizontalFirst = !((h - outH) > 0 && (h - outH) > (w - outW) * 2)
        val planes = if (horizontalFirst) {
            val mid = List(3) { IntArray(outW * h) }
            for (y0 in 0 until h step STRIP) {
                val rows = minOf(STRIP, h - y0)
                val strip = ArgbImage(w, rows, image.pixels.copyOfRange(y0 * w, (y0 + rows) * w))
                strip.rgbPlanes().forEachIndexed { c, plane ->
                    resizePlane(plane, w, rows, outW, rows, method).copyInto(mid[c], y0 * outW)
                }
            }
            mid.map { resizePlane(it, outW, h, outW, outH, method) }
        } else {
            val mid = List(3) { IntArray(w * outH) }
            for (x0 in 0 until w step STRIP) {
                val cols = minOf(STRIP, w - x0)
                val pixels = IntArray(cols * h)
                for (y in 0 until h) image.pixels.copyInto(pixels, y * cols, y * w + x0, y * w + x0 + cols)
                ArgbImage(cols, h, pixels).rgbPlanes().forEachIndexed { c, plane ->
                    val resized = resizePlane(plane, cols, h, cols, outH, method)
                    for (y in 0 until outH) resized.copyInto(mid[c], y * w + x0, y * cols, (y + 1) * cols)
                }
            }
            mid.map { resizePlane(it, w, outH, outW, outH, method) }
        }
        return opaque(planes, outW, outH)
    }

    /**
     * The upload for [photo] (decoded, upright): downscaled to the bundle's `upload_max_side_px`,
     * encoded as JPEG at [JPEG_QUALITY].
     */
    fun prepare(photo: DecodedPhoto, spec: ModelSpec, encoder: JpegEncoder): UploadJpeg =
        prepare(photo, spec.qualityGate.uploadMaxSidePx, encoder)

    /**
     * The upload for [photo] with its long side at most [maxSide]. Should the JPEG still exceed
     * [MAX_UPLOAD_BYTES] (only a bundle with a very large `upload_max_side_px` gets there), lower
     * qualities are tried in turn; the last one is returned whatever its size (the endpoint then
     * answers 413, which the app reports).
     */
    fun prepare(photo: DecodedPhoto, maxSide: Int, encoder: JpegEncoder): UploadJpeg {
        val image = downscale(photo.image, maxSide)
        var quality = JPEG_QUALITY
        var bytes = encoder.encode(image, quality)
        for (q in FALLBACK_QUALITIES) {
            if (bytes.size <= MAX_UPLOAD_BYTES) break
            bytes.fill(0)
            quality = q
            bytes = encoder.encode(image, q)
        }
        return UploadJpeg(bytes, image.width, image.height, quality, photo.originalWidth, photo.originalHeight)
    }

    private fun opaque(planes: List<IntArray>, w: Int, h: Int): ArgbImage {
        val (r, g, b) = planes
        return ArgbImage(w, h, IntArray(w * h) { i -> (0xFF shl 24) or (r[i] shl 16) or (g[i] shl 8) or b[i] })
    }
}
