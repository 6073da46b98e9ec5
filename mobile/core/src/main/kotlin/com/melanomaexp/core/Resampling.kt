package com.melanomaexp.core

import kotlin.math.PI
import kotlin.math.abs
import kotlin.math.sin

/**
 * Resize methods a bundle may name in model.json `input.resize_method`.
 *
 * The serving app resizes with Pillow, so these reproduce Pillow's 8-bit resampling (separable
 * convolution, antialiased when shrinking, 22-bit fixed-point coefficients, rounding to uint8 after
 * each pass). Matching it bit for bit is what makes on-device and remote answers agree on one photo.
 */
enum class ResizeMethod(val wire: String, internal val support: Double, internal val filter: ((Double) -> Double)?) {
    NEAREST("nearest", 0.0, null),
    BOX("box", 0.5, { x -> if (x > -0.5 && x <= 0.5) 1.0 else 0.0 }),
    BILINEAR("bilinear", 1.0, { x -> abs(x).let { if (it < 1.0) 1.0 - it else 0.0 } }),
    HAMMING("hamming", 1.0, ::hamming),
    BICUBIC("bicubic", 2.0, ::bicubic),
    LANCZOS("lanczos", 3.0, ::lanczos);

    companion object {
        /** Maps model.json's name (case-insensitive); an unknown method is an error naming the known ones. */
        fun fromWire(value: String): ResizeMethod {
            // "area" is the serving app's alias for Pillow's BOX filter.
            val name = value.lowercase().let { if (it == "area") "box" else it }
            return entries.firstOrNull { it.wire == name }
                ?: throw IllegalArgumentException(
                    "model.json input.resize_method '$value' is not supported. Known: ${entries.joinToString { it.wire }}, area"
                )
        }
    }
}

private fun sinc(x: Double): Double = if (x == 0.0) 1.0 else sin(PI * x) / (PI * x)

private fun lanczos(x: Double): Double = if (x >= -3.0 && x < 3.0) sinc(x) * sinc(x / 3.0) else 0.0

private fun hamming(x: Double): Double {
    val ax = abs(x)
    return when {
        ax == 0.0 -> 1.0
        ax >= 1.0 -> 0.0
        // Pillow writes these two constants as C floats.
        else -> sin(ax * PI) / (ax * PI) * (0.54f.toDouble() + 0.46f.toDouble() * kotlin.math.cos(ax * PI))
    }
}

private fun bicubic(x: Double): Double {
    val a = -0.5 // Pillow's choice (Keys' cubic with a = -0.5)
    val ax = abs(x)
    return when {
        ax < 1.0 -> ((a + 2.0) * ax - (a + 3.0)) * ax * ax + 1.0
        ax < 2.0 -> (((ax - 5.0) * ax + 8.0) * ax - 4.0) * a
        else -> 0.0
    }
}

private const val PRECISION_BITS = 32 - 8 - 2

/** A region of the source in pixels, right/bottom exclusive (Pillow's resize `box`). */
data class CropBox(val left: Int, val top: Int, val right: Int, val bottom: Int) {
    val width: Int get() = right - left
    val height: Int get() = bottom - top
}

/** Per-output-pixel source window and fixed-point weights along one axis. */
private class AxisCoefficients(val start: IntArray, val count: IntArray, val weights: Array<IntArray>)

/**
 * Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`: the window may reach outside the box
 * (but not outside the image), which is how Pillow antialiases a cropped resize.
 */
private fun axisCoefficients(inSize: Int, in0: Int, in1: Int, outSize: Int, method: ResizeMethod): AxisCoefficients {
    val filter = requireNotNull(method.filter)
    val scale = (in1 - in0).toDouble() / outSize
    val filterScale = if (scale < 1.0) 1.0 else scale
    val support = method.support * filterScale
    val inverseScale = 1.0 / filterScale // multiplied, not divided: Pillow's rounding, bit for bit
    val start = IntArray(outSize)
    val count = IntArray(outSize)
    val weights = Array(outSize) { IntArray(0) }
    for (xx in 0 until outSize) {
        val center = in0 + (xx + 0.5) * scale
        // C-style truncation toward zero, exactly as Pillow computes the window bounds.
        val xmin = maxOf(0, (center - support + 0.5).toInt())
        val xmax = minOf(inSize, (center + support + 0.5).toInt()) - xmin
        val raw = DoubleArray(maxOf(0, xmax)) { x -> filter((x + xmin - center + 0.5) * inverseScale) }
        var total = 0.0
        for (w in raw) total += w
        weights[xx] = IntArray(raw.size) { x ->
            val w = if (total != 0.0) raw[x] / total else raw[x]
            (w * (1 shl PRECISION_BITS) + if (w < 0) -0.5 else 0.5).toInt()
        }
        start[xx] = xmin
        count[xx] = raw.size
    }
    return AxisCoefficients(start, count, weights)
}

private fun clip8(acc: Int): Int = when {
    acc <= 0 -> 0
    acc shr PRECISION_BITS >= 255 -> 255
    else -> acc shr PRECISION_BITS
}

/** Resamples one 8-bit channel plane along x (rows stay) with Pillow's rounding. */
private fun resampleHorizontal(src: IntArray, w: Int, h: Int, outW: Int, c: AxisCoefficients): IntArray {
    val out = IntArray(outW * h)
    for (y in 0 until h) {
        val row = y * w
        for (xx in 0 until outW) {
            var acc = 1 shl (PRECISION_BITS - 1)
            val k = c.weights[xx]
            val x0 = c.start[xx]
            for (i in 0 until c.count[xx]) acc += src[row + x0 + i] * k[i]
            out[y * outW + xx] = clip8(acc)
        }
    }
    return out
}

/** Resamples one 8-bit channel plane along y (columns stay) with Pillow's rounding. */
private fun resampleVertical(src: IntArray, w: Int, outH: Int, c: AxisCoefficients): IntArray {
    val out = IntArray(w * outH)
    for (yy in 0 until outH) {
        val k = c.weights[yy]
        val y0 = c.start[yy]
        for (x in 0 until w) {
            var acc = 1 shl (PRECISION_BITS - 1)
            for (i in 0 until c.count[yy]) acc += src[(y0 + i) * w + x] * k[i]
            out[yy * w + x] = clip8(acc)
        }
    }
    return out
}

/** C's `COORD`: truncation, with every negative coordinate mapped to -1 (outside). */
private fun coord(v: Double): Int = if (v < 0.0) -1 else v.toInt()

/**
 * Pillow's NEAREST resize (`ImagingScaleAffine`): source positions are accumulated by repeated
 * addition, as in C, so rounding at pixel edges matches.
 */
private fun resizeNearest(plane: IntArray, w: Int, h: Int, outW: Int, outH: Int, box: CropBox): IntArray {
    val ax = box.width.toDouble() / outW
    val ay = box.height.toDouble() / outH
    val xs = IntArray(outW)
    var xo = box.left + ax * 0.5
    for (x in 0 until outW) {
        xs[x] = coord(xo).coerceIn(0, w - 1)
        xo += ax
    }
    val out = IntArray(outW * outH)
    var yo = box.top + ay * 0.5
    for (y in 0 until outH) {
        val yi = coord(yo).coerceIn(0, h - 1)
        for (x in 0 until outW) out[y * outW + x] = plane[yi * w + xs[x]]
        yo += ay
    }
    return out
}

/**
 * Resizes the [box] region of one channel plane (values 0-255, row-major, [w] x [h]) to
 * [outW] x [outH], like Pillow's `Image.resize(size, method, box)`: an axis that neither changes
 * size nor is cropped is not filtered at all; horizontal pass first, then vertical.
 */
fun resizePlane(
    plane: IntArray,
    w: Int,
    h: Int,
    outW: Int,
    outH: Int,
    method: ResizeMethod,
    box: CropBox = CropBox(0, 0, w, h),
): IntArray {
    require(plane.size == w * h) { "plane has ${plane.size} values, expected ${w}x$h" }
    require(box.left >= 0 && box.top >= 0 && box.right <= w && box.bottom <= h && box.width > 0 && box.height > 0) {
        "crop box $box is not inside the ${w}x$h image"
    }
    require(outW > 0 && outH > 0) { "output size must be positive, got ${outW}x$outH" }
    if (method == ResizeMethod.NEAREST) return resizeNearest(plane, w, h, outW, outH, box)
    val needHorizontal = outW != w || box.left != 0 || box.right != outW
    val needVertical = outH != h || box.top != 0 || box.bottom != outH
    // Pillow (>= 11) runs the vertical pass first when the height shrinks more than twice as much as
    // the width; the order changes the uint8 rounding between passes, so it is copied too.
    val horizontalFirst = !((h - outH) > 0 && (h - outH) > (w - outW) * 2)
    val horizontal = { src: IntArray, rows: Int ->
        resampleHorizontal(src, w, rows, outW, axisCoefficients(w, box.left, box.right, outW, method))
    }
    val vertical = { src: IntArray, cols: Int ->
        resampleVertical(src, cols, outH, axisCoefficients(h, box.top, box.bottom, outH, method))
    }
    var current = plane
    if (horizontalFirst) {
        if (needHorizontal) current = horizontal(current, h)
        if (needVertical) current = vertical(current, if (needHorizontal) outW else w)
    } else {
        if (needVertical) current = vertical(current, w)
        if (needHorizontal) current = horizontal(current, if (needVertical) outH else h)
    }
    return current
}
