package com.melanomaexp.core

import com.sun.net.httpserver.HttpServer
import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.net.InetAddress
import java.net.InetSocketAddress
import java.util.Base64

/**
 * Where the model looked, as the app reads it: the answer's `explanation` (asked for with
 * `?explain=1`), model.json's `explain` entry, and the result screen's wording of both.
 */
class ExplanationTest {
    private val png = byteArrayOf(-119, 80, 78, 71, 13, 10, 26, 10, 1, 2, 3)

    private fun available(values: JSONArray = JSONArray("[[0.0, 0.5, 1.0], [0.25, 0.75, 0.1234]]")): JSONObject =
        JSONObject()
            .put("available", true).put("method", "grad-cam")
            .put("heatmap", JSONObject().put("height", values.length()).put("width", values.getJSONArray(0).length()).put("values", values))
            .put("overlay_png", Base64.getEncoder().encodeToString(png))
            .put("overlay_size", JSONArray("[224, 160]"))
            .put("note", "Where the model looked (Grad-CAM). Not medical advice.")

    private fun answer(explanation: JSONObject?): String =
        JSONObject(predictionJson()).apply { if (explanation != null) put("explanation", explanation) }.toString()

    @Test
    fun `an answer without explanation has none`() {
        assertNull(ApiJson.parsePrediction(predictionJson()).explanation)
        assertNull(ApiJson.parsePrediction(JSONObject(predictionJson()).put("explanation", JSONObject.NULL).toString()).explanation)
    }

    @Test
    fun `an available explanation carries the map row-major, the overlay PNG and its size`() {
        val e = ApiJson.parsePrediction(answer(available())).explanation
        assertTrue(e is Explanation.Available)
        e as Explanation.Available
        assertEquals("grad-cam", e.method)
        assertEquals(2 to 3, e.heatmap.height to e.heatmap.width)
        assertEquals(listOf(0.0, 0.5, 1.0, 0.25, 0.75, 0.1234), e.heatmap.values.toList())
        assertEquals(0.1234, e.heatmap.at(1, 2), 0.0)
        assertTrue(e.overlayPng.contentEquals(png))
        assertEquals(224 to 160, e.overlayWidth to e.overlayHeight)
        assertTrue(e.note.endsWith("Not medical advice."))
    }

    @Test
    fun `an unavailable explanation keeps its reason and note`() {
        val doc = JSONObject().put("available", false).put("reason", "this bundle ships no explain.tflite").put("note", "n")
        val e = ApiJson.parsePrediction(answer(doc)).explanation
        assertTrue(e is Explanation.Unavailable)
        e as Explanation.Unavailable
        assertEquals("this bundle ships no explain.tflite", e.reason)
        assertEquals("n", e.note)
    }

    @Test
    fun `a malformed explanation is a contract error naming the key`() {
        fun message(doc: JSONObject): String =
            assertThrows(ContractException::class.java) { ApiJson.parsePrediction(answer(doc)) }.message!!
        assertTrue(message(available().put("heatmap", available().getJSONObject("heatmap").put("height", 3)))
            .contains("prediction.explanation.heatmap.values has 2 rows"))
        assertTrue(message(available(JSONArray("[[0.0, 0.5, 1.0], [0.25, 0.75]]"))).contains("prediction.explanation.heatmap.values[1]"))
        assertTrue(message(available(JSONArray("[[0.0, 1.5, 1.0], [0.25, 0.75, 0.1]]"))).let {
            it.contains("prediction.explanation.heatmap") && it.contains("[0, 1]")
        })
        assertTrue(message(available().put("overlay_png", "not base64 !")).contains("prediction.explanation.overlay_png"))
        assertTrue(message(available().apply { remove("note") }).contains("prediction.explanation.note"))
        assertTrue(message(JSONObject().put("available", false).put("note", "n")).contains("prediction.explanation.reason"))
    }

    @Test
    fun `the client asks explain=1 only when told to, and reads the explanation`() {
        val paths = mutableListOf<String>()
        val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0)
        server.createContext("/") { exchange ->
            paths += exchange.requestURI.toString()
            exchange.requestBody.readBytes()
            val explain = exchange.requestURI.query == "explain=1"
            val body = answer(if (explain) available() else null).toByteArray()
            exchange.sendResponseHeaders(200, body.size.toLong())
            exchange.responseBody.use { it.write(body) }
        }
        server.start()
        try {
            val client = ApiClient(EndpointConfig("http://127.0.0.1:${server.address.port}"))
            assertNull(client.predict(png, "image/png").explanation)
            val asked = client.predict(png, "image/png", explain = true).explanation
            assertTrue(asked is Explanation.Available)
            assertEquals(listOf("/v1/predict", "/v1/predict?explain=1"), paths)
        } finally {
            server.stop(0)
        }
    }

    @Test
    fun `the bundle's explain entry is read from model json`() {
        val entry = JSONObject(File(TestEnv.bundleDir, "model.json").readText()).getJSONObject("explain")
        val spec = TestEnv.bundleSpec.explain!!
        val shape = entry.getJSONObject("outputs").getJSONObject("heatmap").getJSONArray("shape")
        assertEquals(shape.getInt(1) to shape.getInt(2), spec.heatmapHeight to spec.heatmapWidth)
        assertEquals(entry.getJSONObject("overlay").getDouble("alpha"), spec.alpha, 0.0)
        assertEquals("jet", spec.colormap)
        assertEquals("grad-cam", spec.method)
        assertTrue("${spec.file} is in the bundle", File(TestEnv.bundleDir, spec.file).isFile)
    }

    @Test
    fun `model json without explain, or with null, has no map, bad entries name the key`() {
        val doc = JSONObject(File(TestEnv.bundleDir, "model.json").readText())
        assertNull(ModelJson.parse(JSONObject(doc.toString()).apply { remove("explain") }.toString()).explain)
        assertNull(ModelJson.parse(JSONObject(doc.toString()).put("explain", JSONObject.NULL).toString()).explain)
        fun message(change: (JSONObject) -> Unit): String {
            val copy = JSONObject(doc.toString())
            change(copy.getJSONObject("explain"))
            return assertThrows(ContractException::class.java) { ModelJson.parse(copy.toString()) }.message!!
        }
        assertTrue(message { it.getJSONObject("overlay").put("alpha", 1.5) }.contains("model.json explain.overlay.alpha must be in [0, 1]"))
        assertTrue(message { it.getJSONObject("overlay").put("alpha", -0.1) }.contains("explain.overlay.alpha"))
        assertTrue(message { it.getJSONObject("overlay").put("alpha", "0.4") }.contains("model.json.explain.overlay.alpha must be a number"))
        assertTrue(message { it.getJSONObject("outputs").getJSONObject("heatmap").put("shape", JSONArray("[1, 15]")) }
            .contains("model.json.explain.outputs.heatmap.shape must be [1, h, w] (rank 3), got [1, 15]"))
        assertTrue(message { it.getJSONObject("outputs").remove("heatmap") }.contains("model.json.explain.outputs.heatmap"))
        assertTrue(message { it.getJSONObject("overlay").put("colormap", "viridis") }.contains("explain.overlay.colormap"))
    }

    @Test
    fun `the result screen words the map only when asked for, and always with its caveat`() {
        val plain = samplePrediction()
        assertNull(Presentation.explanation(plain, requested = false))
        val withMap = plain.copy(explanation = ApiJson.parseExplanation(available()))
        assertNull("not asked for: nothing shown", Presentation.explanation(withMap, requested = false))
        val shown = Presentation.explanation(withMap, requested = true)!!
        assertEquals("Where the model looked", shown.title)
        assertTrue(shown.overlay!!.overlayPng.contentEquals(png))
        assertTrue(shown.overlay!!.overlay is OverlayImage.Png)
        assertTrue(shown.text, shown.text.contains("224×160"))
        assertTrue(shown.note, shown.note.contains("Not medical advice"))
        val none = Presentation.explanation(plain.copy(explanation = Explanation.Unavailable("an ensemble has no map", "")), true)!!
        assertNull(none.overlay)
        assertTrue(none.text, none.text.contains("an ensemble has no map"))
        assertEquals("a blank note gets the app's caveat", Presentation.EXPLANATION_NOTE, none.note)
        val onPhone = Presentation.explanation(plain.copy(source = InferenceSource.ON_DEVICE), true)!!
        assertTrue(onPhone.text, onPhone.text.contains("was off when this phone analysed the photo"))
        assertTrue(Presentation.explanation(plain, true)!!.text.contains("server did not send one"))
    }
}
