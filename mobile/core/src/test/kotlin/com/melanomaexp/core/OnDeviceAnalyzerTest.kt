package com.melanomaexp.core

import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * On-device analysis with the real bundle spec, decoder and preprocessing. LiteRT itself only runs
 * on Android, so the model seam records its input and answers a fixed probability; the test checks
 * that the model sees the server's tensor and that the answer is assembled like the server's. Where
 * the model looked: `explain.tflite`'s seam answers the serving app's map for the photo (fixtures:
 * `serving.explain.ExplainModel` on the same bundle) and the phone must draw the server's overlay.
 */
class OnDeviceAnalyzerTest {
    private class RecordingModel(private val probability: Double) : ProbabilityModel {
        var seen: ModelInput? = null
        override fun malignantProbability(input: ModelInput): Double {
            seen = input
            return probability
        }
    }

    /** `explain.tflite`'s seam: answers the serving app's map ([rows], exact float32) and records its inputs. */
    private class ServerMapModel(private val rows: JSONArray) : HeatmapModel {
        val seen = mutableListOf<ModelInput>()
        override fun heatmap(input: ModelInput): Heatmap {
            seen += input
            val height = rows.length()
            val width = rows.getJSONArray(0).length()
            // As LiteRT hands it over: float32, cleaned like the server's output.
            return Heatmap.fromModelOutput(height, width, FloatArray(height * width) { rows.getJSONArray(it / width).getDouble(it % width).toFloat() })
        }
    }

    private val spec get() = TestEnv.bundleSpec

    /** The fixtures' Grad-CAM case for the real dermoscopy photo (ISIC UDA-1, CC0). */
    private val dermoscopy: JSONObject
        get() = TestEnv.expected.getJSONObject("explain").getJSONObject("cases").getJSONObject("dermoscopy_jpg")

    private val dermoscopyPhoto: ByteArray
        get() = TestEnv.fixture(TestEnv.expected.getJSONObject("photos").getJSONObject("dermoscopy_jpg").getString("file"))

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

    @Test
    fun `asked where the model looked, the phone draws the serving app's overlay of real dermoscopy`() {
        val case = dermoscopy
        val maps = ServerMapModel(case.getJSONArray("heatmap"))
        val analyzer = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(case.getDouble("probability")), heatmapModel = maps)
        assertTrue(analyzer.explains)
        val p = analyzer.analyse(dermoscopyPhoto, explain = true)
        assertEquals("explain.tflite runs once", 1, maps.seen.size)
        assertArrayEquals("explain.tflite gets the serving app's model input",
            readF32(File(TestEnv.fixturesDir, case.getString("input"))), maps.seen[0].values, 0f)
        val e = p.explanation
        assertTrue("available: $e", e is Explanation.Available)
        e as Explanation.Available
        assertEquals(TestEnv.expected.getJSONObject("explain").getString("method"), e.method)
        assertEquals("the serving app's note", case.getJSONObject("answer").getString("note"), e.note)
        assertNull("drawn on the phone: no PNG", e.overlayPng)
        val drawn = (e.overlay as OverlayImage.Pixels).image
        val server = readArgb(TestEnv.fixture(case.getString("overlay")))
        assertEquals(server.width to server.height, drawn.width to drawn.height)
        assertEquals(case.getInt("width") to case.getInt("height"), e.overlayWidth to e.overlayHeight)
        assertArrayEquals("every pixel of the server's overlay", server.pixels, drawn.pixels)
        // The verdict is the classifier's, whether or not the map was asked for.
        val plain = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(case.getDouble("probability"))).analyse(dermoscopyPhoto)
        assertEquals(plain.copy(latencyMs = 0.0), p.copy(latencyMs = 0.0, explanation = null))
        // The result screen shows this overlay.
        val view = Presentation.explanation(p, requested = true)!!
        assertSame(e, view.overlay)
        assertTrue(view.text, view.text.contains("${drawn.width}×${drawn.height}"))
    }

    @Test
    fun `not asked, there is no explanation and explain tflite never runs`() {
        val maps = ServerMapModel(dermoscopy.getJSONArray("heatmap"))
        val analyzer = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(0.3), heatmapModel = maps)
        assertNull(analyzer.analyse(dermoscopyPhoto).explanation)
        assertNull(analyzer.analyse(dermoscopyPhoto, explain = false).explanation)
        assertEquals(0, maps.seen.size)
    }

    @Test
    fun `asked without the map model, the answer says why, like the server`() {
        val withoutFile = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(0.3)).analyse(dermoscopyPhoto, explain = true)
        assertTrue(withoutFile.explanation is Explanation.Unavailable)
        val reason = (withoutFile.explanation as Explanation.Unavailable).reason
        assertTrue(reason, reason.contains("lacks explain.tflite"))
        assertEquals(Explanation.NOTE, withoutFile.explanation!!.note)
        assertTrue(Presentation.explanation(withoutFile, true)!!.text.contains(reason))

        val noEntry = spec.copy(explain = null)
        val older = OnDeviceAnalyzer(noEntry, JvmImageDecoder, RecordingModel(0.3)).analyse(dermoscopyPhoto, explain = true)
        assertEquals(OnDeviceAnalyzer.NO_EXPLAIN_ENTRY, (older.explanation as Explanation.Unavailable).reason)
        assertTrue(OnDeviceAnalyzer.NO_EXPLAIN_ENTRY.contains("no explain entry"))
        val e = assertThrows(IllegalArgumentException::class.java) {
            OnDeviceAnalyzer(noEntry, JvmImageDecoder, RecordingModel(0.3), heatmapModel = ServerMapModel(dermoscopy.getJSONArray("heatmap")))
        }
        assertTrue(e.message!!, e.message!!.contains("model.json has no explain entry"))
    }

    @Test
    fun `a map of the wrong shape or a failing explain model keeps the verdict and says why`() {
        val entry = spec.explain!!
        val plain = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(0.3)).analyse(dermoscopyPhoto)
        val transposedSize = JSONArray(List(entry.heatmapWidth + 1) { JSONArray(List(entry.heatmapHeight) { 0.5 }) })
        val wrong = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(0.3), heatmapModel = ServerMapModel(transposedSize))
            .analyse(dermoscopyPhoto, explain = true)
        assertEquals(plain.label to plain.recommendation, wrong.label to wrong.recommendation)
        val reason = (wrong.explanation as Explanation.Unavailable).reason
        assertTrue(reason, reason.contains(
            "gave a ${entry.heatmapWidth + 1}x${entry.heatmapHeight} map but model.json explain.outputs.heatmap.shape says " +
                "[1, ${entry.heatmapHeight}, ${entry.heatmapWidth}]"))
        val broken = OnDeviceAnalyzer(spec, JvmImageDecoder, RecordingModel(0.3),
            heatmapModel = HeatmapModel { throw IllegalStateException("interpreter failed to load") })
            .analyse(dermoscopyPhoto, explain = true)
        assertEquals(plain.label to plain.malignantProbability, broken.label to broken.malignantProbability)
        val why = (broken.explanation as Explanation.Unavailable).reason
        assertTrue(why, why.contains("could not run explain.tflite (interpreter failed to load)"))
    }

    @Test
    fun `explain tflite's output is cleaned as the server cleans it`() {
        val map = Heatmap.fromModelOutput(2, 2, floatArrayOf(Float.NaN, 1.0000001f, -1e-7f, 0.1f))
        assertEquals(listOf(0.0, 1.0, 0.0, 0.1f.toDouble()), map.values.toList())
    }
}
