package com.melanomaexp.core

import kotlin.math.max
import kotlin.math.min
import kotlin.math.round

/** The gate's verdict plus the measured values, as the serving app's QualityReport. */
data class QualityReport(
    val issues: List<String>,
    val laplacianVariance: Double,
    val meanLuma: Double,
    val clippedFraction: Double,
) {
    val ok: Boolean get() = issues.isEmpty()
}

/**
 * The photo-quality gate of the serving app (`serving/quality.py`) on the phone: blur, exposure and
 * resolution measured on a grayscale copy at most `analysis_max_side_px` wide, thresholds from
 * model.json. Issue codes are the server's, so the result screen words both the same way.
 */
object QualityCheck {
    /** Human wording of the issue codes (the serving app's ISSUE_TEXT). */
    val issueText: Map<String, String> = mapOf(
        "low_resolution" to "the photo's resolution is too low",
        "blurry" to "the photo looks blurred or out of focus",
        "too_dark" to "the photo is too dark",
        "too_bright" to "the photo is over-exposed",
        NotALesionCheck.ISSUE to "this does not look like a photo of a skin lesion",
    )

    /** Checks [photo] against [gate]. */
    fun assess(photo: DecodedPhoto, gate: QualityGate): QualityReport {
        val (gray, w, h) = analysisGray(photo.image, gate.analysisMaxSidePx)
        val lapVar = laplacianVariance(gray, w, h)
        val mean = gray.average()
        val clipped = gray.count { it >= 250 }.toDouble() / gray.size
        val issues = buildList {
            if (min(photo.originalWidth, photo.originalHeight) < gate.minSidePx) add("low_resolution")
            if (lapVar < gate.blurMinLaplacianVar) add("blurry")
            if (mean < gate.darkMaxMean) add("too_dark")
            if (mean > gate.brightMinMean || clipped > gate.clippedMaxFraction) add("too_bright")
        }
        return QualityReport(issues, lapVar, mean, clipped)
    }

    /** Pillow's `convert("L")` (ITU-R 601-2 luma, fixed point), then a BOX downscale if too large. */
    internal fun analysisGray(image: ArgbImage, maxSide: Int): Triple<IntArray, Int, Int> {
        val (r, g, b) = image.rgbPlanes()
        val gray = IntArray(r.size) { i -> (r[i] * 19595 + g[i] * 38470 + b[i] * 7471 + 0x8000) shr 16 }
        val longest = max(image.width, image.height)
        if (longest <= maxSide) return Triple(gray, image.width, image.height)
        val scale = maxSide.toDouble() / longest
        // Python's round() rounds half to even, as kotlin.math.round does.
        val w = max(1, round(image.width * scale).toInt())
        val h = max(1, round(image.height * scale).toInt())
        return Triple(resizePlane(gray, image.width, image.height, w, h, ResizeMethod.BOX), w, h)
    }

    /** Variance of the 4-neighbour Laplacian over the interior (low means blurred). */
    internal fun laplacianVariance(gray: IntArray, w: Int, h: Int): Double {
        if (w < 3 || h < 3) return 0.0
        val n = (w - 2) * (h - 2)
        val lap = DoubleArray(n)
        var k = 0
        for (y in 1 until h - 1) {
            for (x in 1 until w - 1) {
                val c = y * w + x
                lap[k++] = (gray[c - w] + gray[c + w] + gray[c - 1] + gray[c + 1] - 4 * gray[c]).toDouble()
            }
        }
        val mean = lap.average()
        return lap.sumOf { (it - mean) * (it - mean) } / n
    }
}
