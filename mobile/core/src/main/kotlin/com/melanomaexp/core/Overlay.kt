package com.melanomaexp.core

import kotlin.math.abs
import kotlin.math.floor

/**
 * A Grad-CAM map at the last convolutional block's resolution ([height] x [width], 7 x 7 for a
 * 224 px EfficientNet), row-major, each value in [0, 1]: how much each region weighed in the verdict.
 */
class Heatmap(val height: Int, val width: Int, val values: DoubleArray) {
    init {
        require(height > 0 && width > 0) { "heatmap must not be empty, got ${height}x$width" }
        require(values.size == height * width) { "heatmap has ${values.size} values, expected ${height}x$width" }
        val bad = values.indexOfFirst { !(it in 0.0..1.0) }
        require(bad < 0) { "heatmap values must be within [0, 1], got ${values[bad]} at row ${bad / width}, column ${bad % width}" }
    }

    /** The value at row [y], column [x]. */
    fun at(y: Int, x: Int): Double = values[y * width + x]

    companion object {
        /**
         * The map a LiteRT model returned ([values]: [height] x [width] float32, row-major), cleaned
         * as the serving app cleans `explain.tflite`'s output (`np.nan_to_num(np.clip(map, 0, 1))`):
         * clipped to [0, 1], NaN read as 0.
         */
        fun fromModelOutput(height: Int, width: Int, values: FloatArray): Heatmap =
            Heatmap(height, width, DoubleArray(values.size) { i -> values[i].let { if (it.isNaN()) 0.0 else it.toDouble().coerceIn(0.0, 1.0) } })
    }
}

/**
 * An explanation overlay, the model input's size: as the server sent it ([Png]) or drawn on the
 * phone by [Overlay.draw] ([Pixels], no PNG round trip). Either holds a small copy of the photo and
 * lives in memory with the result only.
 */
sealed interface OverlayImage {
    val width: Int
    val height: Int

    /** The answer's `overlay_png`, decoded from base64: PNG bytes of [width] x [height]. */
    class Png(val bytes: ByteArray, override val width: Int, override val height: Int) : OverlayImage

    /** An overlay drawn on the phone: opaque ARGB pixels. */
    class Pixels(val image: ArgbImage) : OverlayImage {
        override val width: Int get() = image.width
        override val height: Int get() = image.height
    }
}

/**
 * The answer's `explanation` (`POST /v1/predict?explain=1`): where the model looked, or why no map
 * could be made. It shows what the model used, never where a lesion is nor whether it is malignant.
 */
sealed interface Explanation {
    /** The server's wording of what the map means (and that it is not medical advice). */
    val note: String

    /**
     * The map and its overlay on the pixels the model saw ([overlay], [overlayWidth] x
     * [overlayHeight]: the model input size): the server's PNG for a remote answer, the phone's own
     * drawing for an on-device one. The overlay holds a small copy of the photo: it lives in memory
     * with the result only.
     */
    class Available(
        val method: String,
        val heatmap: Heatmap,
        val overlay: OverlayImage,
        override val note: String,
    ) : Explanation {
        /** The server's overlay, as the answer carries it (PNG bytes, `overlay_size` [width, height]). */
        constructor(method: String, heatmap: Heatmap, overlayPng: ByteArray, overlayWidth: Int, overlayHeight: Int, note: String) :
            this(method, heatmap, OverlayImage.Png(overlayPng, overlayWidth, overlayHeight), note)

        val overlayWidth: Int get() = overlay.width
        val overlayHeight: Int get() = overlay.height

        /** The server's PNG; null for an overlay drawn on the phone ([OverlayImage.Pixels]). */
        val overlayPng: ByteArray? get() = (overlay as? OverlayImage.Png)?.bytes
    }

    /** No map for this answer (an older bundle, an ensemble, a build without the map model): [reason] says why. */
    class Unavailable(val reason: String, override val note: String) : Explanation

    companion object {
        /** The serving app's note (`serving.explain.NOTE`), carried by the phone's own explanations too. */
        const val NOTE =
            "Where the model looked (Grad-CAM): warm colours weighed most in this verdict. It shows what the " +
                "model used, not where a lesion is or whether it is malignant. Not medical advice."
    }
}

/**
 * The explanation overlay, drawn exactly as the serving app draws it (`serving/explain.py`, shared
 * fixtures in OverlayParityTest): the map upsampled bilinearly to the model input (half-pixel
 * centres, edges clamped, rows then columns, in Double), coloured with a piecewise-linear jet and
 * blended over the model-input pixels at model.json `explain.overlay.alpha`, each channel rounded
 * half up.
 */
object Overlay {
    /**
     * The overlay of [heatmap] on [input] (the model input, 0-255 RGB) at [alpha] in [0, 1], as
     * opaque ARGB pixels of the input's size.
     */
    fun draw(input: ModelInput, heatmap: Heatmap, alpha: Double): ArgbImage {
        require(alpha in 0.0..1.0) { "overlay alpha must be within [0, 1], got $alpha" }
        require(input.channels == 3) { "the overlay is drawn on RGB pixels, got ${input.channels} channels" }
        val map = upsample(heatmap, input.height, input.width)
        val pixels = IntArray(input.height * input.width)
        for (i in pixels.indices) {
            var argb = 0xFF shl 24
            for (c in 0 until 3) {
                val pixel = input.values[i * 3 + c].toDouble().coerceIn(0.0, 255.0)
                val colour = jet(map[i], c) * 255.0
                argb = argb or (floor(pixel * (1.0 - alpha) + colour * alpha + 0.5).toInt() shl (16 - 8 * c))
            }
            pixels[i] = argb
        }
        return ArgbImage(input.width, input.height, pixels)
    }

    /**
     * [heatmap] resized to [height] x [width] (row-major), as `tf.image.resize(..., "bilinear")`:
     * source coordinate (i + 0.5) x in/out - 0.5, clamped at 0 below and at the last cell above.
     */
    fun upsample(heatmap: Heatmap, height: Int, width: Int): DoubleArray {
        val rows = AxisWeights(heatmap.height, height)
        val cols = AxisWeights(heatmap.width, width)
        val out = DoubleArray(height * width)
        for (y in 0 until height) {
            val r0 = rows.low[y]
            val r1 = rows.high[y]
            val fr = rows.frac[y]
            for (x in 0 until width) {
                val c0 = cols.low[x]
                val c1 = cols.high[x]
                val fc = cols.frac[x]
                // The serving app's order of operations, so the Doubles are the same bits.
                val top = heatmap.at(r0, c0) * (1 - fc) + heatmap.at(r0, c1) * fc
                val bottom = heatmap.at(r1, c0) * (1 - fc) + heatmap.at(r1, c1) * fc
                out[y * width + x] = top * (1 - fr) + bottom * fr
            }
        }
        return out
    }

    /** Channel [channel] (0 red, 1 green, 2 blue) of the jet colour of [value], in [0, 1]. */
    fun jet(value: Double, channel: Int): Double {
        val t = value.coerceIn(0.0, 1.0)
        // red peaks at t = 3/4, green at 1/2, blue at 1/4
        return (1.5 - abs(4.0 * t - JET_CENTRES[channel])).coerceIn(0.0, 1.0)
    }

    private val JET_CENTRES = doubleArrayOf(3.0, 2.0, 1.0)

    private class AxisWeights(sizeIn: Int, sizeOut: Int) {
        val low = IntArray(sizeOut)
        val high = IntArray(sizeOut)
        val frac = DoubleArray(sizeOut)

        init {
            require(sizeOut > 0) { "cannot upsample to an empty size, got $sizeOut" }
            val scale = sizeIn.toDouble() / sizeOut
            for (i in 0 until sizeOut) {
                val src = maxOf((i + 0.5) * scale - 0.5, 0.0)
                low[i] = minOf(floor(src).toInt(), sizeIn - 1)
                high[i] = minOf(low[i] + 1, sizeIn - 1)
                frac[i] = src - low[i]
            }
        }
    }
}
