package com.melanomaexp.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** The API client against the real serving app (started by mobile/tools/run_suite.py on 127.0.0.1). */
class ApiClientLiveTest {
    private val client get() = ApiClient(EndpointConfig(TestEnv.baseUrl))

    @Test
    fun `a JPEG upload comes back as a complete, consistent prediction`() {
        val progress = mutableListOf<Pair<Long, Long>>()
        val p = client.predict(TestEnv.fixture("lesion.jpg"), "image/jpeg", { sent, total -> progress += sent to total })
        val spec = client.model()
        assertEquals(spec.ref, p.model)
        assertEquals(spec.disclaimer, p.disclaimer)
        assertEquals(spec.threshold, p.threshold, 0.0)
        assertEquals(1.0, p.malignantProbability + p.benignProbability, 1e-9)
        assertEquals(spec.labelFor(p.malignantProbability), p.label)
        assertTrue("latency measured", p.latencyMs > 0.0)
        assertTrue("progress reported", progress.isNotEmpty())
        assertEquals("progress ends at the full body", progress.last().second, progress.last().first)
        assertTrue("progress is monotone", progress.zipWithNext().all { (a, b) -> a.first <= b.first })
    }

    @Test
    fun `the server's advice equals the phone's advice for the same probability and photo`() {
        val bytes = TestEnv.fixture("dark.png")
        val remote = client.predict(bytes, "image/png")
        val spec = client.model()
        val gate = QualityCheck.assess(JvmImageDecoder.decode(bytes), spec.qualityGate)
        // ood.tflite cannot run on the JVM: the server's own score for this photo (fixtures).
        val distance = TestEnv.expected.getJSONObject("photos").getJSONObject("dark_png").getJSONObject("ood").getDouble("score")
        val issues = gate.issues + NotALesionCheck.issuesFor(spec.ood!!, distance)
        assertEquals(remote.quality, Quality(issues.isEmpty(), issues))
        val (label, advice) = Advisor.recommend(spec, remote.malignantProbability, issues)
        assertEquals(remote.label, label)
        assertEquals(remote.recommendation, advice)
    }

    @Test
    fun `a photo of a wall comes back not_a_lesion and the result screen leads with retake`() {
        val remote = client.predict(TestEnv.fixture("wall.png"), "image/png")
        assertTrue(remote.quality.issues.toString(), "not_a_lesion" in remote.quality.issues)
        assertEquals(TestEnv.bundleSpec.bands.retake.level, remote.recommendation.level)
        val view = Presentation.result(remote)
        assertEquals(Presentation.NOT_A_LESION_HEADLINE, view.headline)
        assertTrue(view.retakeFirst)
        assertEquals(TestEnv.bundleSpec.disclaimer, view.disclaimer)
    }

    @Test
    fun `asked where the model looked, the real server's overlay is the one Overlay draws from its map`() {
        // Real dermoscopy (ISIC UDA-1, CC0) through the real server with ?explain=1.
        val bytes = TestEnv.fixture("dermoscopy.jpg")
        val plain = client.predict(bytes, "image/jpeg")
        val remote = client.predict(bytes, "image/jpeg", explain = true)
        assertEquals(null, plain.explanation)
        assertEquals(plain.malignantProbability, remote.malignantProbability, 1e-9)
        val explanation = remote.explanation
        assertTrue("available: $explanation", explanation is Explanation.Available)
        explanation as Explanation.Available
        val spec = TestEnv.bundleSpec.explain!!
        assertEquals(spec.heatmapHeight to spec.heatmapWidth, explanation.heatmap.height to explanation.heatmap.width)
        // The PNG the server sent is the fixtures' overlay of this photo (same bundle, same code)...
        val case = TestEnv.expected.getJSONObject("explain").getJSONObject("cases").getJSONObject("dermoscopy_jpg")
        val sent = readArgb(explanation.overlayPng!!)
        assertTrue("the server's overlay equals the fixture's",
            sent.pixels.contentEquals(readArgb(TestEnv.fixture(case.getString("overlay"))).pixels))
        // ...and the phone draws the same picture from the map in the answer (4 decimals: within a level).
        val values = readF32(java.io.File(TestEnv.fixturesDir, case.getString("input")))
        val drawn = Overlay.draw(ModelInput(sent.height, sent.width, 3, values), explanation.heatmap, spec.alpha)
        val maxDiff = agreement("dermoscopy", drawn, sent).maxDiff
        assertTrue("largest channel difference $maxDiff", maxDiff <= 1)
        assertTrue(explanation.note, explanation.note.contains("not medical advice", ignoreCase = true))
    }

    @Test
    fun `GET v1 model equals the bundle's model json`() {
        assertEquals(TestEnv.bundleSpec, client.model())
        assertTrue(client.isHealthy())
    }

    @Test
    fun `a non-image upload is a 400 BadImage with the server's message`() {
        val e = assertThrows(ApiError.BadImage::class.java) {
            client.predict("this is not a photo".toByteArray(), "image/jpeg")
        }
        assertEquals("invalid_image", e.code)
        assertTrue(e.message, e.message!!.contains("not a decodable image"))
        assertEquals(false, e.retryable)
    }

    @Test
    fun `a GIF is a 415 UnsupportedType`() {
        val gif = "GIF89a".toByteArray() + ByteArray(32)
        val e = assertThrows(ApiError.UnsupportedType::class.java) { client.predict(gif, "image/gif") }
        assertTrue(e.message, e.message!!.contains("GIF"))
    }

    @Test
    fun `with a key set, a wrong or missing key is a 401 and the right key works`() {
        val photo = TestEnv.fixture("lesion.jpg")
        val wrong = assertThrows(ApiError.Unauthorized::class.java) {
            ApiClient(EndpointConfig(TestEnv.keyedUrl, apiKey = "wrong-key")).predict(photo)
        }
        // The JDK drops a streamed POST's 401 body (Android's client keeps it): the message still says why.
        assertTrue(wrong.message, wrong.message!!.contains("API key"))
        val missing = assertThrows(ApiError.Unauthorized::class.java) { ApiClient(EndpointConfig(TestEnv.keyedUrl)).model() }
        assertEquals("unauthorized", missing.code)
        assertTrue(missing.message, missing.message!!.contains("x-api-key"))
        val ok = ApiClient(EndpointConfig(TestEnv.keyedUrl, apiKey = TestEnv.apiKey)).predict(photo)
        assertEquals(TestEnv.bundleSpec.ref, ok.model)
    }

    @Test
    fun `an oversized body is a 413 TooLarge`() {
        val body = ByteArray(TestEnv.keyedMaxBodyBytes + 4096) { (it % 251).toByte() }
        val e = assertThrows(ApiError.TooLarge::class.java) {
            ApiClient(EndpointConfig(TestEnv.keyedUrl, apiKey = TestEnv.apiKey)).predict(body)
        }
        assertEquals("payload_too_large", e.code)
        assertTrue(e.message, e.message!!.contains("limit"))
    }

    @Test
    fun `a body over the serving default limit of 15 MB is a 413 too`() {
        val body = ByteArray(16_000_000) { (it % 251).toByte() }
        val e = assertThrows(ApiError.TooLarge::class.java) { client.predict(body) }
        assertTrue(e.message, e.message!!.contains("limit"))
    }
}
