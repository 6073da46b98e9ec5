package com.melanomaexp.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** The settings screen's validation and the client config it produces. */
class SettingsTest {
    @Test
    fun `defaults point at the emulator's host and are valid`() {
        val s = AppSettings()
        assertEquals(emptyMap<String, String>(), s.validate())
        assertEquals("http://10.0.2.2:8000", s.endpoint().baseUrl)
        assertNull(s.endpoint().apiKey)
    }

    @Test
    fun `plain http is only allowed towards the developer machine`() {
        assertTrue(AppSettings(endpointUrl = "http://example.org").validate().containsKey("endpointUrl"))
        assertEquals(emptyMap<String, String>(), AppSettings(endpointUrl = "https://abc.execute-api.eu-west-1.amazonaws.com/prod").validate())
        assertTrue(AppSettings(endpointUrl = "ftp://x").validate()["endpointUrl"]!!.contains("https://"))
        assertTrue(AppSettings(endpointUrl = "").validate()["endpointUrl"]!!.contains("Enter the endpoint URL"))
    }

    @Test
    fun `on-device mode needs no endpoint`() {
        assertEquals(emptyMap<String, String>(), AppSettings(endpointUrl = "", mode = InferenceMode.ON_DEVICE).validate())
    }

    @Test
    fun `key and timeout are checked and carried into the client config`() {
        val bad = AppSettings(apiKey = "abc def", timeoutSeconds = 2).validate()
        assertEquals(setOf("apiKey", "timeoutSeconds"), bad.keys)
        val cfg = AppSettings(apiKey = "k-123", timeoutSeconds = 45).endpoint()
        assertEquals("k-123", cfg.apiKey)
        assertEquals(45_000, cfg.readTimeoutMs)
        assertEquals(10_000, cfg.connectTimeoutMs)
        assertThrows(IllegalArgumentException::class.java) { EndpointConfig("10.0.2.2:8000") }
    }
}
