package com.melanomaexp.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The exposure measures relative to the scene, on pixels built here: the median and 99th percentile
 * of each pixel's brightest channel, the share clipped white, the scene's colour (median darkest to
 * brightest channel ratio, share clipped in a saturated colour), and the rule that reads them.
 */
class ExposureCheckTest {
    private val gate = QualityGate(
        minSidePx = 1, analysisMaxSidePx = 512, blurMinLaplacianVar = 0.0, darkMaxMean = 40.0, brightMinMean = 220.0,
        clippedMaxFraction = 0.35, darkMaxMidtone = 60.0, darkMaxHighlight = 138.0, whiteClippedMaxFraction = 0.12,
        darkMaxMidtoneNeutral = 90.0, neutralMinRatio = 0.67, colourClippedMaxFraction = 0.05,
    )
    private val withoutColour = gate.copy(darkMaxMidtoneNeutral = null, neutralMinRatio = null, colourClippedMaxFraction = null)
    private val olderBundle = withoutColour.copy(darkMaxMidtone = null, darkMaxHighlight = null, whiteClippedMaxFraction = null)

    /** A 10 x 10 photo: [count] pixels of [special], the rest [fill] (both 0xRRGGBB). */
    private fun photo(fill: Int, special: Int = fill, count: Int = 0): DecodedPhoto =
        DecodedPhoto(ArgbImage(10, 10, IntArray(100) { i -> (0xFF shl 24) or (if (i < count) special else fill) }))

    @Test
    fun `levels are read from the histogram like numpy's searchsorted`() {
        assertEquals(0, QualityCheck.levelAt(intArrayOf(0, 0, 7, 9), 0.5))
        assertEquals(7, QualityCheck.levelAt(intArrayOf(0, 7, 7, 9), 0.5))
        assertEquals(9, QualityCheck.levelAt(intArrayOf(0, 7, 7, 9), 0.99))
    }

    @Test
    fun `the brightest channel is measured, so dark red skin is not a dim scene`() {
        // 98 pixels of very dark skin (luma 50: below the midtone limit), 2 white.
        val report = QualityCheck.assess(photo(0x4E2A1E, 0xFFFFFF, 2), gate)
        assertEquals(78, report.midtone)
        assertEquals(255, report.highlight)
        assertEquals(0.02, report.whiteFraction, 1e-12)
        assertEquals(emptyList<String>(), QualityCheck.exposureIssues(report, gate))
    }

    @Test
    fun `a grey scene with nothing near white is too dark, and older bundles keep the mean rule`() {
        val dim = QualityCheck.assess(photo(0x323232, 0x505050, 5), gate) // mean luma 51, brightest 80
        assertEquals(listOf("too_dark"), QualityCheck.exposureIssues(dim, gate))
        assertEquals(emptyList<String>(), QualityCheck.exposureIssues(dim, olderBundle))
        // A highlight lifts the verdict: a dark scene with something white in it is not under-exposed.
        val withLamp = QualityCheck.assess(photo(0x323232, 0xF0F0F0, 5), gate)
        assertEquals(emptyList<String>(), QualityCheck.exposureIssues(withLamp, gate))
    }

    @Test
    fun `white clipped in all channels is over-exposed, red clipped alone is not`() {
        val whiteBand = QualityCheck.assess(photo(0xC89678, 0xFFFFFF, 20), gate)
        assertEquals(listOf("too_bright"), QualityCheck.exposureIssues(whiteBand, gate))
        assertEquals(emptyList<String>(), QualityCheck.exposureIssues(whiteBand, olderBundle))
        val fairSkin = QualityCheck.assess(photo(0xFFC8AA), gate) // red at 255 everywhere
        assertEquals(0.0, fairSkin.whiteFraction, 0.0)
        assertEquals(0.0, fairSkin.colourClippedFraction, 0.0) // blue is 2/3 of red: not that saturated
        assertTrue(fairSkin.issues.isEmpty())
    }

    @Test
    fun `the ratio of darkest to brightest channel is rounded like serving's integer arithmetic`() {
        val ratio = QualityCheck.darkestToBrightest(intArrayOf(0, 200, 201, 90), intArrayOf(0, 100, 100, 0))
        assertEquals(listOf(255, 128, 127, 0), ratio.toList())
    }

    @Test
    fun `a neutral dim scene is too dark where dark skin as bright passes`() {
        val grey = QualityCheck.assess(photo(0x504E4A), gate) // brightest channel 80, nothing near white
        assertEquals(80, grey.midtone)
        assertEquals(236, grey.neutralRatio)
        assertEquals(listOf("too_dark"), QualityCheck.exposureIssues(grey, gate))
        assertEquals(emptyList<String>(), QualityCheck.exposureIssues(grey, withoutColour))
        val darkSkin = QualityCheck.assess(photo(0x503425), gate) // (80, 52, 37): melanin's colour
        assertEquals(118, darkSkin.neutralRatio)
        assertEquals(emptyList<String>(), QualityCheck.exposureIssues(darkSkin, gate))
    }

    @Test
    fun `a saturated colour clipped is over-exposed, and older bundles do not look at it`() {
        val sticker = QualityCheck.assess(photo(0xB4967A, 0xFF9664, 8), gate) // 8 % (255, 150, 100)
        assertEquals(0.08, sticker.colourClippedFraction, 1e-12)
        assertEquals(listOf("too_bright"), QualityCheck.exposureIssues(sticker, gate))
        assertEquals(emptyList<String>(), QualityCheck.exposureIssues(sticker, withoutColour))
    }
}
