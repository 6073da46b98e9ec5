package com.melanomaexp.core

import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * The not-a-lesion check on the phone against the serving app. The test bundle carries `ood.tflite`
 * (`tiny_bundle --ood`); `tools/make_fixtures.py` recorded, per photo, the server's not-a-lesion score
 * and its complete answer. LiteRT only runs on Android, so the model seams answer the server's
 * numbers and record what they were given: the phone must feed them the server's tensor and turn
 * them into the server's answer, field for field.
 */
class NotALesionTest {
    private val spec get() = TestEnv.bundleSpec
    private val ood get() = requireNotNull(spec.ood) { "the test bundle has no ood entry (tiny_bundle --ood)" }

    /** PNGs decode bit-identically on the JVM, so the whole answer must match exactly. */
    private val pngPhotos = listOf("lesion_png", "alpha_png", "large_png", "dark_png", "wall_png", "noise_png",
        "dim_png", "dark_skin_png", "white_band_png", "neutral_dim_png", "colour_clipped_png")

    private fun photo(key: String): JSONObject = TestEnv.expected.getJSONObject("photos").getJSONObject(key)
    private fun served(key: String): JSONObject = photo(key).getJSONObject("ood")

    private class Recording(private val value: Double) : ProbabilityModel, OodScoreModel {
        var seen: ModelInput? = null
        override fun malignantProbability(input: ModelInput): Double = value.also { seen = input }
        override fun score(input: ModelInput): Double = value.also { seen = input }
    }

    @Test
    fun `model json's ood entry is read as the serving app reads it`() {
        val doc = JSONObject(File(TestEnv.bundleDir, "model.json").readText()).getJSONObject("ood")
        assertEquals(OodSpec(doc.getString("file"), doc.getDouble("threshold"), "not_a_lesion"), ood)
        assertEquals("ood.tflite", ood.file)
    }

    @Test
    fun `the phone flags exactly the photos the server flags, at the same threshold`() {
        val flagged = TestEnv.expected.getJSONObject("photos").keys().asSequence().toList().map { key ->
            val issues = served(key).getJSONObject("answer").getJSONObject("quality").getJSONArray("issues").asStrings()
            val ours = NotALesionCheck.issuesFor(ood, served(key).getDouble("score"))
            assertEquals(key, issues.contains("not_a_lesion"), ours == listOf("not_a_lesion"))
            key to ours.isNotEmpty()
        }.toMap()
        // The fixtures must exercise both sides, or this test proves nothing.
        assertTrue("the green wall is not a lesion: $flagged", flagged.getValue("wall_png"))
        // Real dermoscopy (the gate learns lesions from real ones; a drawn blob on a gradient is not one).
        assertFalse("the real dermoscopy photo is a lesion: $flagged", flagged.getValue("dermoscopy_jpg"))
        assertEquals(listOf("not_a_lesion"), NotALesionCheck.issuesFor(ood, ood.threshold))
        assertEquals(emptyList<String>(), NotALesionCheck.issuesFor(ood, Math.nextDown(ood.threshold)))
    }

    @Test
    fun `on-device answers equal the server's answers for the same photos`() {
        for (key in pngPhotos) {
            val answer = served(key).getJSONObject("answer")
            val remote = ApiJson.parsePrediction(JSONObject(answer.toString()).put("latency_ms", 0.0).toString())
            val distance = Recording(served(key).getDouble("score"))
            val local = OnDeviceAnalyzer(spec, JvmImageDecoder, Recording(remote.malignantProbability), distance)
                .analyse(TestEnv.fixture(photo(key).getString("file")))
            assertEquals(key, remote.quality, local.quality)
            assertEquals(key, remote.label, local.label)
            assertEquals(key, remote.recommendation, local.recommendation)
            assertEquals(key, remote.disclaimer, local.disclaimer)
            // ood.tflite sees the classifier's input, i.e. the server's tensor for this photo.
            val file = photo(key).getJSONArray("tensors").getJSONObject(0).getString("file")
            val seen = distance.seen ?: throw AssertionError("$key: ood model never ran")
            assertArrayEquals(key, readF32(File(TestEnv.fixturesDir, file)), seen.values, 0f)
        }
    }

    @Test
    fun `a not-a-lesion photo keeps its verdict and puts retake first, worded like the server`() {
        val p = OnDeviceAnalyzer(spec, JvmImageDecoder, Recording(0.9), Recording(ood.threshold * 4))
            .analyse(TestEnv.fixture("wall.png"))
        assertEquals(Label.MALIGNANT, p.label)
        assertFalse("quality ok despite not_a_lesion", p.quality.ok)
        assertTrue(p.quality.issues.toString(), "not_a_lesion" in p.quality.issues)
        assertEquals(spec.bands.retake.level, p.recommendation.level)
        assertTrue(p.recommendation.text, p.recommendation.text.contains("this does not look like a photo of a skin lesion"))
        assertTrue(p.recommendation.text, p.recommendation.text.endsWith("Meanwhile: ${spec.bands.malignant.text}"))
    }

    @Test
    fun `without ood tflite the phone answers like a server whose bundle lacks the file`() {
        val analyzer = OnDeviceAnalyzer(spec, JvmImageDecoder, Recording(0.2))
        assertFalse(analyzer.checksNotALesion)
        assertEquals(listOf("too_dark"), analyzer.analyse(TestEnv.fixture("dark.png")).quality.issues)
        val noOod = spec.copy(ood = null)
        val e = assertThrows(IllegalArgumentException::class.java) {
            OnDeviceAnalyzer(noOod, JvmImageDecoder, Recording(0.2), Recording(1.0))
        }
        assertTrue(e.message, e.message!!.contains("no ood entry"))
    }

    @Test
    fun `an ood entry without a usable threshold is named, an empty or absent one means no check`() {
        val raw = File(TestEnv.bundleDir, "model.json").readText()
        val missing = JSONObject(raw).apply { getJSONObject("ood").remove("threshold") }
        val e = assertThrows(ContractException::class.java) { ModelJson.parse(missing.toString()) }
        assertTrue(e.message, e.message!!.contains("model.json.ood.threshold"))
        val text = JSONObject(raw).apply { getJSONObject("ood").put("threshold", "high") }
        val n = assertThrows(ContractException::class.java) { ModelJson.parse(text.toString()) }
        assertTrue(n.message, n.message!!.contains("threshold"))
        // A bundle from before `threshold`: its squared-distance threshold is read the same way.
        val older = JSONObject(raw).apply { getJSONObject("ood").remove("threshold"); getJSONObject("ood").put("threshold_squared", 7.5) }
        assertEquals(7.5, ModelJson.parse(older.toString()).ood!!.threshold, 0.0)
        assertNull(ModelJson.parse(JSONObject(raw).put("ood", JSONObject()).toString()).ood)
        assertNull(ModelJson.parse(JSONObject(raw).apply { remove("ood") }.toString()).ood)
        val renamed = JSONObject(raw).apply { getJSONObject("ood").put("quality_issue", "not_skin").put("file", "x.tflite") }
        assertEquals(OodSpec("x.tflite", ood.threshold, "not_skin"), ModelJson.parse(renamed.toString()).ood)
    }
}

private fun org.json.JSONArray.asStrings(): List<String> = List(length()) { getString(it) }
