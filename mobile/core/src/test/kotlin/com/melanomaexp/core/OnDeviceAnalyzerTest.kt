package com.melanomaexp.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * On-device analysis with the real bundle spec, decoder and preprocessing. LiteRT itself only runs
 * on Android, so the model seam records its input and answers a fixed probability; the test checks
 * that the model sees the server's tensor and that the answer is assembled like the server's.
 */
class OnDeviceAnalyzerTest {
    private class RecordingModel(private val probability: Double) : ProbabilityModel {
        var seen: ModelInput? = null
        override fun malignantProbability(input: ModelInput): Double {
            seen = input
            return probability
        }
    }

    private val spec get() = TestEnv.bundleSpec

    @Test
    fun `the model receives exactly the serving app's input tensor`() {
        val model = RecordingModel(0.2)
        OnDeviceAnalyzer(spec, JvmImageDecoder, model).analyse(TestEnv.fixture("lesion.png"))
        val photo = TestEnv.expected.getJSONObject("photos").getJSONObject("lesion_png")
        val file = photo.getJSONArray("tensors").getJSONObject(0).getString("file")
        val seen = model.seen!!
        assertEquals(spec.input.height, seen.height)
        assertEquals(spec.input.width, seen.width)
        assertArrayEquals(readF32(File(TestEnv.fixturesDir, file)), seen.values, 0f)
    }

    @Test
    fun `the answer has the endpoint's shape, labels by threshold and advises from the bands`() {
        val low = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(0.02)).analyse(TestEnv.fixture("large.png"))
        assertEquals(InferenceSource.ON_DEVICE, low.source)
        assertEquals(Label.BENIGN, low.label)
        assertEquals(0.98, low.benignProbability, 1e-12)
        assertTrue(low.quality.ok)
        // 0.02 is below every band edge at the bundle's threshold: the mildest band (rule threshold_fraction).
        assertTrue(0.02 <= spec.bands.benign.first().maxThresholdFraction * spec.threshold)
        assertEquals(spec.bands.benign.first().recommendation, low.recommendation)
        assertEquals(spec.disclaimer, low.disclaimer)
        assertEquals(spec.ref, low.model)

        val high = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(spec.threshold)).analyse(TestEnv.fixture("large.png"))
        assertEquals(Label.MALIGNANT, high.label)
        assertEquals(spec.bands.malignant.recommendation, high.recommendation)
    }

    @Test
    fun `a poor photo puts retake first but keeps the worrying advice`() {
        val p = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(0.9)).analyse(TestEnv.fixture("dark.png"))
        assertEquals(listOf("too_dark"), p.quality.issues)
        assertEquals(spec.bands.retake.level, p.recommendation.level)
        assertTrue(p.recommendation.text, p.recommendation.text.startsWith(spec.bands.retake.text))
        assertTrue(p.recommendation.text, p.recommendation.text.contains("(Problem: the photo is too dark.)"))
        assertTrue(p.recommendation.text, p.recommendation.text.endsWith("Meanwhile: ${spec.bands.malignant.text}"))
    }

    @Test
    fun `bytes that are not an image fail clearly`() {
        val e = assertThrows(IllegalArgumentException::class.java) {
            OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(0.1)).analyse("hello".toByteArray())
        }
        assertTrue(e.message!!.contains("not a decodable image"))
    }
}
