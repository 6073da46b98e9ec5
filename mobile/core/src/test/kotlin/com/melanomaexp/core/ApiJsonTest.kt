package com.melanomaexp.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** Contract-5 answers parsed with org.json (the same code Android ships). */
class ApiJsonTest {
    @Test
    fun `a complete answer becomes a typed prediction`() {
        val p = ApiJson.parsePrediction(
            predictionJson("malignant", 0.73, "seek_care", "See a doctor promptly.", qualityOk = false, issues = listOf("blurry"))
        )
        assertEquals(Label.MALIGNANT, p.label)
        assertEquals(0.73, p.malignantProbability, 1e-12)
        assertEquals(0.27, p.benignProbability, 1e-12)
        assertEquals(0.5, p.threshold, 0.0)
        assertEquals(Recommendation("seek_care", "See a doctor promptly."), p.recommendation)
        assertEquals(Quality(false, listOf("blurry")), p.quality)
        assertEquals(ModelRef("tiny-test-model", "3"), p.model)
        assertEquals("Not medical advice.", p.disclaimer)
        assertEquals(12.5, p.latencyMs, 0.0)
        assertEquals(InferenceSource.REMOTE, p.source)
    }

    @Test
    fun `a missing field is named in the error`() {
        val doc = JSONObject(predictionJson())
        doc.getJSONObject("recommendation").remove("text")
        val e = assertThrows(ContractException::class.java) { ApiJson.parsePrediction(doc.toString()) }
        assertTrue(e.message, e.message!!.contains("prediction.recommendation.text"))
    }

    @Test
    fun `an unknown label is refused, never defaulted`() {
        val doc = JSONObject(predictionJson()).put("label", "healthy")
        val e = assertThrows(ContractException::class.java) { ApiJson.parsePrediction(doc.toString()) }
        assertTrue(e.message, e.message!!.contains("healthy") && e.message!!.contains("benign, malignant"))
    }

    @Test
    fun `probabilities outside 0-1 are refused`() {
        val doc = JSONObject(predictionJson()).put("malignant_probability", 1.5)
        assertThrows(ContractException::class.java) { ApiJson.parsePrediction(doc.toString()) }
    }

    @Test
    fun `an HTML page instead of JSON is a contract error`() {
        val e = assertThrows(ContractException::class.java) { ApiJson.parsePrediction("<html>proxy login</html>") }
        assertTrue(e.message!!.contains("not a JSON object"))
    }

    @Test
    fun `error bodies yield code and message, odd bodies still a readable message`() {
        assertEquals(
            "invalid_image" to "the body is not a decodable image",
            ApiJson.parseError(400, """{"error": {"code": "invalid_image", "message": "the body is not a decodable image"}}"""),
        )
        val (code, message) = ApiJson.parseError(502, "<html>Bad gateway</html>")
        assertEquals("http_502", code)
        assertTrue(message, message.startsWith("HTTP 502: <html>Bad gateway"))
        assertEquals("http_500" to "HTTP 500: empty body", ApiJson.parseError(500, ""))
    }

    @Test
    fun `multipart body frames the image bytes exactly`() {
        val image = byteArrayOf(0, 1, 2, 13, 10, 45, 45, -1)
        val body = MultipartBody("image", "photo.jpeg", "image/jpeg", image, boundary = "XyZ")
        assertEquals("multipart/form-data; boundary=XyZ", body.contentType)
        val head = "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpeg\"\r\n" +
            "Content-Type: image/jpeg\r\n\r\n"
        val tail = "\r\n--XyZ--\r\n"
        assertTrue(body.bytes.copyOfRange(0, head.length).contentEquals(head.toByteArray()))
        assertTrue(body.bytes.copyOfRange(head.length, head.length + image.size).contentEquals(image))
        assertEquals(tail, String(body.bytes.copyOfRange(head.length + image.size, body.bytes.size)))
        assertFalse(MultipartBody("image", "a\"b", "image/png", image).bytes.decodeToString().contains("a\"b"))
    }
}
