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
    fun `the bands are read in file order with their fractions and severities`() {
        val bands = JSONObject(raw).getJSONObject("recommendation_bands")
        val benign = bands.getJSONArray("benign")
        val spec = TestEnv.bundleSpec.bands
        for (i in 0 until benign.length()) {
            val b = benign.getJSONObject(i)
            assertEquals(
                BenignBand(b.getDouble("max_threshold_fraction"), b.getString("level"), b.getInt("severity"), b.getString("text")),
                spec.benign[i],
            )
        }
        val malignant = bands.getJSONObject("malignant")
        assertEquals(MalignantBand(malignant.getString("level"), malignant.getInt("severity"), malignant.getString("text")), spec.malignant)
        assertEquals(Recommendation(malignant.getString("level"), malignant.getString("text")), spec.malignant.recommendation)
        assertEquals(bands.getJSONObject("retake").getString("level"), spec.retake.level)
    }

    @Test
    fun `each benign band ends at its fraction of the threshold and malignant starts at the threshold`() {
        val spec = TestEnv.bundleSpec
        val bands = spec.bands
        val t = spec.threshold
        for ((i, band) in bands.benign.withIndex()) {
            val edge = band.maxThresholdFraction * t
            if (edge < t) assertEquals(Label.BENIGN to band, bands.adviceBand(edge, t))
            val next = bands.benign.getOrNull(i + 1)
            if (next != null) assertEquals(Label.BENIGN to next, bands.adviceBand(Math.nextUp(edge), t))
        }
        assertEquals(Label.BENIGN to bands.benign.first(), bands.adviceBand(0.0, t))
        assertEquals(Label.BENIGN to bands.benign.last(), bands.adviceBand(Math.nextDown(t), t))
        assertEquals(Label.MALIGNANT to bands.malignant, bands.adviceBand(t, t))
        assertEquals(Label.MALIGNANT to bands.malignant, bands.adviceBand(1.0, t))
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
