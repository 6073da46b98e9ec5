package com.melanomaexp.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/** model.json (contract 4) as exported by the project, read by the app's parser. */
class ModelJsonTest {
    private val raw: String get() = File(TestEnv.bundleDir, "model.json").readText()

    @Test
    fun `the exported bundle's model json parses completely`() {
        val doc = JSONObject(raw)
        val spec = ModelJson.parse(raw)
        val input = doc.getJSONObject("input")
        assertEquals(doc.getString("name"), spec.name)
        assertEquals(doc.getString("version"), spec.version)
        assertEquals(input.getInt("height"), spec.input.height)
        assertEquals(input.getInt("width"), spec.input.width)
        assertEquals(ResizeMethod.fromWire(input.getString("resize_method")), spec.input.resizeMethod)
        assertEquals(ResizeAspect.fromWire(input.getString("resize_aspect")), spec.input.resizeAspect)
        assertEquals(doc.getDouble("decision_threshold"), spec.threshold, 0.0)
        assertEquals(doc.getString("disclaimer"), spec.disclaimer)
        val bands = doc.getJSONObject("recommendation_bands")
        assertEquals(bands.getJSONArray("benign").length(), spec.bands.benign.size)
        assertEquals(bands.getJSONObject("malignant").getString("text"), spec.bands.malignant.text)
        assertEquals(doc.getJSONObject("quality_gate").getDouble("blur_min_laplacian_var"), spec.qualityGate.blurMinLaplacianVar, 0.0)
        assertTrue("limitations are shown in the app", spec.limitations.isNotEmpty())
    }

    @Test
    fun `benign bands pick the highest minimum reached and fall back to the most cautious`() {
        val bands = TestEnv.bundleSpec.bands
        val byMin = bands.benign.sortedByDescending { it.minBenignProbability }
        assertEquals(byMin.first(), bands.benignBand(1.0))
        assertEquals(byMin.first(), bands.benignBand(byMin.first().minBenignProbability))
        assertEquals(byMin[1], bands.benignBand(byMin.first().minBenignProbability - 1e-9))
        assertEquals(byMin.last(), bands.benignBand(-1.0))
    }

    @Test
    fun `the threshold itself leans malignant`() {
        val spec = TestEnv.bundleSpec
        assertEquals(Label.MALIGNANT, spec.labelFor(spec.threshold))
        assertEquals(Label.BENIGN, spec.labelFor(Math.nextDown(spec.threshold)))
    }

    @Test
    fun `a missing section is named`() {
        val doc = JSONObject(raw)
        doc.remove("quality_gate")
        val e = assertThrows(ContractException::class.java) { ModelJson.parse(doc.toString()) }
        assertTrue(e.message, e.message!!.contains("model.json.quality_gate"))
    }

    @Test
    fun `an unsupported resize method names the known ones`() {
        val doc = JSONObject(raw)
        doc.getJSONObject("input").put("resize_method", "mitchell")
        val e = assertThrows(ContractException::class.java) { ModelJson.parse(doc.toString()) }
        assertTrue(e.message, e.message!!.contains("mitchell") && e.message!!.contains("bilinear"))
    }

    @Test
    fun `a grayscale or BGR input spec is refused`() {
        val doc = JSONObject(raw)
        doc.getJSONObject("input").put("color", "BGR")
        val e = assertThrows(ContractException::class.java) { ModelJson.parse(doc.toString()) }
        assertTrue(e.message, e.message!!.contains("RGB"))
    }

    @Test
    fun `wrong label order is refused`() {
        val doc = JSONObject(raw).put("labels", org.json.JSONArray(listOf("malignant", "benign")))
        assertThrows(ContractException::class.java) { ModelJson.parse(doc.toString()) }
    }
}
