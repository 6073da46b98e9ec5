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

    // model.json on_device: which LiteRT model the phone runs (the export's float-vs-int8 comparison).

    private fun withOnDevice(recommended: Any?): String {
        val doc = JSONObject(raw)
        if (recommended == null) doc.remove("on_device")
        else doc.put("on_device", JSONObject().put("measured", true).put("recommended_model", recommended).put("reason", "measured"))
        return doc.toString()
    }

    @Test
    fun `the exported bundle's on_device recommendation picks its file from files`() {
        val doc = JSONObject(raw)
        val onDevice = doc.getJSONObject("on_device")
        val spec = TestEnv.bundleSpec
        val key = if (onDevice.getString("recommended_model") == "float") "tflite" else "tflite_int8"
        assertEquals(onDevice.getString("recommended_model"), spec.onDevice.model.wire)
        assertEquals(doc.getJSONObject("files").getString(key), spec.onDeviceModelFile)
        assertEquals(onDevice.getBoolean("measured"), spec.onDevice.measured)
        assertEquals(onDevice.getString("reason"), spec.onDevice.reason)
        assertTrue("the file is in the bundle", File(TestEnv.bundleDir, spec.onDeviceModelFile).isFile)
    }

    @Test
    fun `recommended float runs model tflite`() {
        val spec = ModelJson.parse(withOnDevice("float"))
        assertEquals(OnDeviceModel.FLOAT, spec.onDevice.model)
        assertEquals("model.tflite", spec.onDeviceModelFile)
        assertTrue(spec.onDevice.measured)
    }

    @Test
    fun `recommended int8 runs model_int8 tflite`() {
        val spec = ModelJson.parse(withOnDevice("int8"))
        assertEquals(OnDeviceModel.INT8, spec.onDevice.model)
        assertEquals("model_int8.tflite", spec.onDeviceModelFile)
    }

    @Test
    fun `a bundle without on_device runs int8 as before`() {
        val spec = ModelJson.parse(withOnDevice(null))
        assertEquals(OnDeviceModel.INT8, spec.onDevice.model)
        assertEquals("model_int8.tflite", spec.onDeviceModelFile)
        assertEquals(false, spec.onDevice.measured)
        assertTrue(spec.onDevice.reason, spec.onDevice.reason.contains("no on_device"))
        val explicitNull = JSONObject(raw).put("on_device", JSONObject.NULL).toString()
        assertEquals("model_int8.tflite", ModelJson.parse(explicitNull).onDeviceModelFile)
    }

    @Test
    fun `an unknown recommended model is refused naming the key`() {
        for (bad in listOf("fp16", "FLOAT", "")) {
            val e = assertThrows(ContractException::class.java) { ModelJson.parse(withOnDevice(bad)) }
            assertTrue(e.message, e.message!!.contains("model.json.on_device.recommended_model"))
            assertTrue(e.message, e.message!!.contains("'$bad'") && e.message!!.contains("'float'") && e.message!!.contains("'int8'"))
        }
        val missing = JSONObject(raw).put("on_device", JSONObject().put("measured", false)).toString()
        val e = assertThrows(ContractException::class.java) { ModelJson.parse(missing) }
        assertTrue(e.message, e.message!!.contains("model.json.on_device.recommended_model"))
    }

    @Test
    fun `the file follows files, and the export's names where files is absent`() {
        val renamed = JSONObject(withOnDevice("float"))
        renamed.getJSONObject("files").put("tflite", "classifier_fp32.tflite")
        assertEquals("classifier_fp32.tflite", ModelJson.parse(renamed.toString()).onDeviceModelFile)
        // GET /v1/model leaves `files` out (serving/model.py INTERNAL_KEYS): the export's file names.
        val public = JSONObject(withOnDevice("float")).apply { remove("files") }
        assertEquals("model.tflite", ModelJson.parse(public.toString()).onDeviceModelFile)
        val lacking = JSONObject(withOnDevice("float")).apply { getJSONObject("files").remove("tflite") }
        val e = assertThrows(ContractException::class.java) { ModelJson.parse(lacking.toString()) }
        assertTrue(e.message, e.message!!.contains("model.json.files.tflite"))
    }

    // quality_gate.upload_max_side_px: the long side uploads are downscaled to.

    @Test
    fun `upload_max_side_px is read, defaults for older bundles and is checked like the server checks it`() {
        val gate = JSONObject(raw).getJSONObject("quality_gate")
        assertEquals(gate.getInt("upload_max_side_px"), TestEnv.bundleSpec.qualityGate.uploadMaxSidePx)
        assertEquals(1024, TestEnv.bundleSpec.qualityGate.uploadMaxSidePx)
        val older = JSONObject(raw).apply { getJSONObject("quality_gate").remove("upload_max_side_px") }
        assertEquals(QualityGate.DEFAULT_UPLOAD_MAX_SIDE_PX, ModelJson.parse(older.toString()).qualityGate.uploadMaxSidePx)
        for (bad in listOf<Any>(gate.getInt("analysis_max_side_px") - 1, 1024.5, "1024", 0)) {
            val doc = JSONObject(raw).apply { getJSONObject("quality_gate").put("upload_max_side_px", bad) }
            val e = assertThrows(ContractException::class.java) { ModelJson.parse(doc.toString()) }
            assertTrue(e.message, e.message!!.contains("model.json.quality_gate.upload_max_side_px"))
        }
    }

    // quality_gate exposure limits relative to the scene (serving/model.py check_exposure_keys).

    @Test
    fun `exposure limits are read, absent in older bundles and checked like the server checks them`() {
        val gate = JSONObject(raw).getJSONObject("quality_gate")
        val spec = TestEnv.bundleSpec.qualityGate
        assertEquals(gate.getDouble("dark_max_midtone"), spec.darkMaxMidtone!!, 0.0)
        assertEquals(gate.getDouble("dark_max_highlight"), spec.darkMaxHighlight!!, 0.0)
        assertEquals(gate.getDouble("white_clipped_max_fraction"), spec.whiteClippedMaxFraction!!, 0.0)
        assertEquals(gate.getDouble("dark_max_midtone_neutral"), spec.darkMaxMidtoneNeutral!!, 0.0)
        assertEquals(gate.getDouble("neutral_min_ratio"), spec.neutralMinRatio!!, 0.0)
        assertEquals(gate.getDouble("colour_clipped_max_fraction"), spec.colourClippedMaxFraction!!, 0.0)
        val colourKeys = listOf("dark_max_midtone_neutral", "neutral_min_ratio", "colour_clipped_max_fraction")
        val keys = listOf("dark_max_midtone", "dark_max_highlight", "white_clipped_max_fraction") + colourKeys
        val older = JSONObject(raw).apply { keys.forEach { getJSONObject("quality_gate").remove(it) } }
        val olderGate = ModelJson.parse(older.toString()).qualityGate
        assertEquals(listOf(null, null, null), listOf(olderGate.darkMaxMidtone, olderGate.darkMaxHighlight, olderGate.whiteClippedMaxFraction))
        val withoutColour = JSONObject(raw).apply { colourKeys.forEach { getJSONObject("quality_gate").remove(it) } }
        val withoutColourGate = ModelJson.parse(withoutColour.toString()).qualityGate
        assertEquals(spec.darkMaxMidtone, withoutColourGate.darkMaxMidtone)
        assertEquals(listOf(null, null, null),
            listOf(withoutColourGate.darkMaxMidtoneNeutral, withoutColourGate.neutralMinRatio, withoutColourGate.colourClippedMaxFraction))
        for ((key, bad, message) in listOf(
            Triple("white_clipped_max_fraction", "0.12", "white_clipped_max_fraction must be a number"),
            Triple("dark_max_midtone", true, "dark_max_midtone must be a number"),
            Triple("dark_max_highlight", JSONObject.NULL, "dark_max_midtone and dark_max_highlight go together"),
            Triple("colour_clipped_max_fraction", "0.03", "colour_clipped_max_fraction must be a number"),
            Triple("neutral_min_ratio", JSONObject.NULL, "dark_max_midtone_neutral and neutral_min_ratio go together"),
        )) {
            val doc = JSONObject(raw).apply { getJSONObject("quality_gate").put(key, bad) }
            val e = assertThrows(ContractException::class.java) { ModelJson.parse(doc.toString()) }
            assertTrue(e.message, e.message!!.contains("model.json.quality_gate.$message"))
        }
    }

    @Test
    fun `the edge-sharpness blur limit is read, absent in older bundles and checked like the server checks it`() {
        val gate = JSONObject(raw).getJSONObject("quality_gate")
        assertEquals(gate.getDouble("blur_min_edge_sharpness"), TestEnv.bundleSpec.qualityGate.blurMinEdgeSharpness!!, 0.0)
        // Exported before the key: parses, and keeps the Laplacian-variance rule alone.
        val older = JSONObject(raw).apply { getJSONObject("quality_gate").remove("blur_min_edge_sharpness") }
        assertEquals(null, ModelJson.parse(older.toString()).qualityGate.blurMinEdgeSharpness)
        for (bad in listOf<Any>("0.16", true)) {
            val doc = JSONObject(raw).apply { getJSONObject("quality_gate").put("blur_min_edge_sharpness", bad) }
            val e = assertThrows(ContractException::class.java) { ModelJson.parse(doc.toString()) }
            assertTrue(e.message, e.message!!.contains("model.json.quality_gate.blur_min_edge_sharpness must be a number"))
        }
    }

    @Test
    fun `wrong label order is refused`() {
        val doc = JSONObject(raw).put("labels", org.json.JSONArray(listOf("malignant", "benign")))
        assertThrows(ContractException::class.java) { ModelJson.parse(doc.toString()) }
    }
}
