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
    /** Median of each pixel's brightest channel (0-255). */
    val midtone: Int = 0,
    /** 99th percentile of each pixel's brightest channel (0-255). */
    val highlight: Int = 0,
    /** Share of pixels clipped in all three channels. */
    val whiteFraction: Double = 0.0,
    /** Median of each pixel's darkest channel as a share of its brightest, in 0-255 levels. */
    val neutralRatio: Int = 0,
    /** Share of pixels whose brightest channel is clipped while their darkest is below half of it. */
    val colourClippedFraction: Double = 0.0,
    /** Laplacian energy over gradient energy on the edge pixels (0 when too few): low means wide edges. */
    val edgeSharpness: Double = 0.0,
) {
    val ok: Boolean get() = issues.isEmpty()
}

/**
 * The photo-quality gate of the serving app (`serving/quality.py`) on the phone: blur, exposure and
 * resolution measured on a copy at most `analysis_max_side_px` wide (its grayscale, and each pixel's
 * brightest and darkest channel), thresholds from model.json. Too dark: mean luma below
 * `dark_max_mean`, or a dim scene (median brightest channel below `dark_max_midtone` and its 99th
 * percentile below `dark_max_highlight`), or a dim neutral scene (its median pixel's darkest channel
 * at least `neutral_min_ratio` of its brightest, paler than dark skin) with a midtone below
 * `dark_max_midtone_neutral`. Over-exposed: mean above `bright_min_mean`, luma clipped beyond
 * `clipped_max_fraction`, more than `white_clipped_max_fraction` of the pixels clipped in all three
 * channels, or more than `colour_clipped_max_fraction` clipped in a saturated colour (brightest
 * channel clipped, darkest below half of it). Blurred: Laplacian variance below
 * `blur_min_laplacian_var` and, in bundles that have it, edge sharpness below
 * `blur_min_edge_sharpness` (smooth, low-contrast skin photographed sharp keeps narrow edges).
 * Issue codes are the server's, so the result screen words both the same way.
 */
object QualityCheck {
    /** A luma or channel value at or above this counts as clipped (serving/quality.py CLIP_LEVEL). */
    const val CLIP_LEVEL = 250
    const val MIDTONE_QUANTILE = 0.5
    const val HIGHLIGHT_QUANTILE = 0.99
    /** An edge pixel's luma changes by at least this across its two neighbours (serving's EDGE_MIN_GRADIENT). */
    const val EDGE_MIN_GRADIENT = 10
    /** Fewer edge pixels than this share of the interior: nothing to judge, sharpness 0 (EDGE_MIN_FRACTION). */
    const val EDGE_MIN_FRACTION = 0.001

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
        val copy = analysisCopy(photo.image, gate.analysisMaxSidePx)
        val gray = copy.gray
        val lapVar = laplacianVariance(gray, copy.width, copy.height)
        val brightest = IntArray(gray.size) { i -> max(copy.r[i], max(copy.g[i], copy.b[i])) }
        val darkest = IntArray(gray.size) { i -> min(copy.r[i], min(copy.g[i], copy.b[i])) }
        val report = QualityReport(
            issues = emptyList(),
            laplacianVariance = lapVar,
            meanLuma = gray.average(),
            clippedFraction = gray.count { it >= CLIP_LEVEL }.toDouble() / gray.size,
            midtone = levelAt(brightest, MIDTONE_QUANTILE),
            highlight = levelAt(brightest, HIGHLIGHT_QUANTILE),
            whiteFraction = darkest.count { it >= CLIP_LEVEL }.toDouble() / gray.size,
            neutralRatio = levelAt(darkestToBrightest(brightest, darkest), MIDTONE_QUANTILE),
            colourClippedFraction = gray.indices.count { i -> brightest[i] >= CLIP_LEVEL && 2 * darkest[i] < brightest[i] }
                .toDouble() / gray.size,
            edgeSharpness = edgeSharpness(gray, copy.width, copy.height),
        )
        val issues = buildList {
            if (min(photo.originalWidth, photo.originalHeight) < gate.minSidePx) add("low_resolution")
            if (blurry(report, gate)) add("blurry")
            addAll(exposureIssues(report, gate))
        }
        return report.copy(issues = issues)
    }

    /**
     * Laplacian variance below `blur_min_laplacian_var` and, when the bundle has
     * `blur_min_edge_sharpness`, edge sharpness below it too (serving's `blurry`).
     */
    fun blurry(report: QualityReport, gate: QualityGate): Boolean {
        val sharpness = gate.blurMinEdgeSharpness
        return report.laplacianVariance < gate.blurMinLaplacianVar &&
            (sharpness == null || report.edgeSharpness < sharpness)
    }

    /** `too_dark` / `too_bright` for the measured values; limits a bundle lacks are not applied. */
    fun exposureIssues(report: QualityReport, gate: QualityGate): List<String> = buildList {
        val midtone = gate.darkMaxMidtone
        val highlight = gate.darkMaxHighlight
        val neutralMidtone = gate.darkMaxMidtoneNeutral
        val neutralRatio = gate.neutralMinRatio
        val dim = highlight != null && report.highlight < highlight
        val dimScene = dim && midtone != null && report.midtone < midtone
        val dimNeutralScene = dim && neutralMidtone != null && neutralRatio != null &&
            report.midtone < neutralMidtone && report.neutralRatio >= 255 * neutralRatio
        if (report.meanLuma < gate.darkMaxMean || dimScene || dimNeutralScene) add("too_dark")
        val white = gate.whiteClippedMaxFraction
        val colour = gate.colourClippedMaxFraction
        if (report.meanLuma > gate.brightMinMean || report.clippedFraction > gate.clippedMaxFraction ||
            (white != null && report.whiteFraction > white) ||
            (colour != null && report.colourClippedFraction > colour)
        ) add("too_bright")
    }

    /**
     * Each pixel's darkest channel as a share of its brightest in 0-255 levels, rounded half up as
     * serving's integer arithmetic does; black counts as neutral (255).
     */
    fun darkestToBrightest(brightest: IntArray, darkest: IntArray): IntArray =
        IntArray(brightest.size) { i -> if (brightest[i] == 0) 255 else (255 * darkest[i] + brightest[i] / 2) / brightest[i] }

    /** The smallest 0-255 level at or below which at least [quantile] of [values] lie. */
    fun levelAt(values: IntArray, quantile: Double): Int {
        if (values.isEmpty()) return 0
        val counts = LongArray(256)
        for (v in values) counts[v]++
        val need = quantile * values.size // the same double numpy compares the cumulative counts with
        var cumulative = 0L
        for (level in 0 until 256) {
            cumulative += counts[level]
            if (cumulative >= need) return level
        }
        return 255
    }

    /** The analysis copy: luma and the R, G, B planes, each BOX-downscaled to the same size. */
    internal class AnalysisCopy(val gray: IntArray, val r: IntArray, val g: IntArray, val b: IntArray, val width: Int, val height: Int)

    /**
     * Pillow's `convert("L")` (ITU-R 601-2 luma, fixed point) and the RGB planes, then a BOX
     * downscale of each if too large (Pillow resizes an RGB image channel by channel, the same way).
     */
    internal fun analysisCopy(image: ArgbImage, maxSide: Int): AnalysisCopy {
        val (r, g, b) = image.rgbPlanes()
        val gray = IntArray(r.size) { i -> (r[i] * 19595 + g[i] * 38470 + b[i] * 7471 + 0x8000) shr 16 }
        val longest = max(image.width, image.height)
        if (longest <= maxSide) return AnalysisCopy(gray, r, g, b, image.width, image.height)
        val scale = maxSide.toDouble() / longest
        // Python's round() rounds half to even, as kotlin.math.round does.
        val w = max(1, round(image.width * scale).toInt())
        val h = max(1, round(image.height * scale).toInt())
        fun down(plane: IntArray) = resizePlane(plane, image.width, image.height, w, h, ResizeMethod.BOX)
        return AnalysisCopy(down(gray), down(r), down(g), down(b), w, h)
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

    /**
     * Over the interior pixels whose squared gradient (central differences, horizontal plus vertical)
     * is at least [EDGE_MIN_GRADIENT] squared: the sum of the squared 4-neighbour Laplacian over the
     * sum of the squared gradient; 0 when fewer than [EDGE_MIN_FRACTION] of the interior are such edge
     * pixels. Integer sums, so the double is the serving app's.
     */
    internal fun edgeSharpness(gray: IntArray, w: Int, h: Int): Double {
        if (w < 3 || h < 3) return 0.0
        val n = (w - 2) * (h - 2)
        val minGrad2 = EDGE_MIN_GRADIENT * EDGE_MIN_GRADIENT
        var count = 0L
        var lapSum = 0L
        var gradSum = 0L
        for (y in 1 until h - 1) {
            for (x in 1 until w - 1) {
                val c = y * w + x
                val gx = gray[c + 1] - gray[c - 1]
                val gy = gray[c + w] - gray[c - w]
                val grad2 = gx.toLong() * gx + gy.toLong() * gy
                if (grad2 < minGrad2) continue
                val lap = (gray[c - w] + gray[c + w] + gray[c - 1] + gray[c + 1] - 4 * gray[c]).toLong()
                count++
                lapSum += lap * lap
                gradSum += grad2
            }
        }
        if (count == 0L || count < EDGE_MIN_FRACTION * n) return 0.0
        return lapSum.toDouble() / gradSum.toDouble()
    }
}
