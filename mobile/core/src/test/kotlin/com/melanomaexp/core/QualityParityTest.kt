package com.melanomaexp.core

import org.junit.Assert.assertEquals
import org.junit.Test

/** The phone's quality gate against the serving app's numbers for the same photos. */
class QualityParityTest {
    private fun check(photoKey: String, relTol: Double, absTol: Double, levelTol: Int = 0) {
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
    }

    // numpy accumulates in float32; the phone in double: tiny relative differences only.
    @Test fun `small PNG flags low resolution like the server`() = check("lesion_png", 1e-4, 1e-3)
    @Test fun `semi-transparent PNG`() = check("alpha_png", 1e-4, 1e-3)
    @Test fun `large PNG is measured on the same BOX-downscaled copy`() = check("large_png", 1e-4, 1e-3)
    @Test fun `dark PNG is flagged too dark like the server`() = check("dark_png", 1e-4, 1e-3)
    @Test fun `photos of no lesion are measured like the server`() {
        check("wall_png", 1e-4, 1e-3)
        check("noise_png", 1e-4, 1e-3)
    }
    @Test fun `JPEG agrees within decoder tolerance`() = check("lesion_jpg", 1e-3, 0.05, levelTol = 2)

    // Exposure relative to the scene: the same verdicts as the server on either side of the limits.
    @Test fun `a dim scene with nothing near white is too dark though its mean is not`() = check("dim_png", 1e-4, 1e-3)
    @Test fun `a lesion on dark skin passes though its luma is as low`() = check("dark_skin_png", 1e-4, 1e-3)
    @Test fun `a fifth of the frame clipped white is over-exposed`() = check("white_band_png", 1e-4, 1e-3)
    @Test fun `a neutral scene as bright as dark skin is too dark`() = check("neutral_dim_png", 1e-4, 1e-3)
    @Test fun `a saturated colour clipped in a tenth of the frame is over-exposed`() = check("colour_clipped_png", 1e-4, 1e-3)
}
