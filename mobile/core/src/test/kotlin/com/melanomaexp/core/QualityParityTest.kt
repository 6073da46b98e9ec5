package com.melanomaexp.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

/** The phone's quality gate against the serving app's numbers for the same photos. */
class QualityParityTest {
    private fun check(photoKey: String, relTol: Double, absTol: Double, levelTol: Int = 0): QualityReport {
        val photo = TestEnv.expected.getJSONObject("photos").getJSONObject(photoKey)
        val q = photo.getJSONObject("quality")
        val decoded = JvmImageDecoder.decode(TestEnv.fixture(photo.getString("file")))
        val ours = QualityCheck.assess(decoded, TestEnv.bundleSpec.qualityGate)
        val issues = q.getJSONArray("issues").let { a -> List(a.length()) { a.getString(it) } }
        assertEquals("$photoKey issues", issues, ours.issues)
        assertEquals("$photoKey ok", q.getBoolean("ok"), ours.ok)
        val lap = q.getDouble("laplacian_var")
        assertEquals("$photoKey laplacian variance", lap, ours.laplacianVariance, lap * relTol)
        assertEquals("$photoKey mean luma", q.getDouble("mean_luma"), ours.meanLuma, absTol)
        assertEquals("$photoKey clipped fraction", q.getDouble("clipped_fraction"), ours.clippedFraction, 1e-6 + absTol / 100)
        assertEquals("$photoKey midtone", q.getInt("midtone").toDouble(), ours.midtone.toDouble(), levelTol.toDouble())
        assertEquals("$photoKey highlight", q.getInt("highlight").toDouble(), ours.highlight.toDouble(), levelTol.toDouble())
        assertEquals("$photoKey white fraction", q.getDouble("white_fraction"), ours.whiteFraction, 1e-6 + absTol / 100)
        assertEquals("$photoKey neutral ratio", q.getInt("neutral_ratio").toDouble(), ours.neutralRatio.toDouble(), levelTol.toDouble())
        assertEquals("$photoKey colour-clipped fraction", q.getDouble("colour_clipped_fraction"), ours.colourClippedFraction,
            1e-6 + absTol / 100)
        val sharpness = q.getDouble("edge_sharpness")
        assertEquals("$photoKey edge sharpness", sharpness, ours.edgeSharpness, sharpness * relTol)
        return ours
    }

    // numpy accumulates in float32; the phone in double: tiny relative differences only.
    @Test fun `small PNG flags low resolution like the server`() { check("lesion_png", 1e-4, 1e-3) }
    @Test fun `semi-transparent PNG`() { check("alpha_png", 1e-4, 1e-3) }
    @Test fun `large PNG is measured on the same BOX-downscaled copy`() { check("large_png", 1e-4, 1e-3) }
    @Test fun `dark PNG is flagged too dark like the server`() { check("dark_png", 1e-4, 1e-3) }
    @Test fun `photos of no lesion are measured like the server`() {
        check("wall_png", 1e-4, 1e-3)
        check("noise_png", 1e-4, 1e-3)
    }
    @Test fun `JPEG agrees within decoder tolerance`() { check("lesion_jpg", 1e-3, 0.05, levelTol = 2) }

    // Real dermoscopy (the in-repo ISIC UDA-1 sample, CC0): smooth skin photographed sharp has a
    // Laplacian variance under the blur limit; its edges are narrow, so it is not blurry. The
    // Gaussian-blurred copy's edges are wide: blurry, on both sides.
    @Test fun `sharp real dermoscopy under the variance limit passes by its edges`() {
        val gate = TestEnv.bundleSpec.qualityGate
        val ours = check("dermoscopy_jpg", 1e-3, 0.05, levelTol = 2)
        assertTrue("variance ${ours.laplacianVariance}", ours.laplacianVariance < gate.blurMinLaplacianVar)
        assertTrue("sharpness ${ours.edgeSharpness}", ours.edgeSharpness >= gate.blurMinEdgeSharpness!!)
        assertFalse(ours.issues.toString(), "blurry" in ours.issues)
        // A bundle exported before blur_min_edge_sharpness keeps the variance rule: blurry.
        assertTrue(QualityCheck.blurry(ours, gate.copy(blurMinEdgeSharpness = null)))
    }
    @Test fun `blurred real dermoscopy is blurry`() {
        val ours = check("dermoscopy_blurred_png", 1e-4, 1e-3)
        assertEquals(listOf("blurry"), ours.issues)
    }

    // Exposure relative to the scene: the same verdicts as the server on either side of the limits.
    @Test fun `a dim scene with nothing near white is too dark though its mean is not`() { check("dim_png", 1e-4, 1e-3) }
    @Test fun `a lesion on dark skin passes though its luma is as low`() { check("dark_skin_png", 1e-4, 1e-3) }
    @Test fun `a fifth of the frame clipped white is over-exposed`() { check("white_band_png", 1e-4, 1e-3) }
    @Test fun `a neutral scene as bright as dark skin is too dark`() { check("neutral_dim_png", 1e-4, 1e-3) }
    @Test fun `a saturated colour clipped in a tenth of the frame is over-exposed`() { check("colour_clipped_png", 1e-4, 1e-3) }
}
