package com.melanomaexp.core

import com.melanomaexp.core.ApiJson.int
import com.melanomaexp.core.ApiJson.num
import com.melanomaexp.core.ApiJson.obj
import com.melanomaexp.core.ApiJson.objects
import com.melanomaexp.core.ApiJson.str
import com.melanomaexp.core.ApiJson.strings
import com.melanomaexp.core.ApiJson.wrap
import org.json.JSONArray
import org.json.JSONObject

/**
 * Parses model.json (contract 4) — the bundled asset for on-device inference, or `GET /v1/model`.
 * Nothing about the model is duplicated in code: size, resize, threshold, advice texts, quality
 * thresholds and the disclaimer all come from here.
 */
object ModelJson {
    /** Parses the document; a missing or malformed key raises [ContractException] naming it. */
    fun parse(body: String): ModelSpec {
        val doc = ApiJson.parseObject(body, "model.json")
        val labels = doc.strings("labels", "model.json")
        if (labels != listOf("benign", "malignant")) {
            throw ContractException("model.json.labels must be [\"benign\", \"malignant\"], got $labels")
        }
        return wrap("model.json") {
            val input = parseInput(doc.obj("input", "model.json"))
            ModelSpec(
                name = doc.str("name", "model.json"),
                version = doc.str("version", "model.json"),
                input = input,
                threshold = doc.num("decision_threshold", "model.json"),
                bands = parseBands(doc.obj("recommendation_bands", "model.json")),
                qualityGate = parseQualityGate(doc.obj("quality_gate", "model.json"), input),
                disclaimer = doc.str("disclaimer", "model.json"),
                intendedUse = doc.optString("intended_use", ""),
                limitations = if (doc.has("limitations")) doc.strings("limitations", "model.json") else emptyList(),
                testMetrics = numericMetrics(doc.optJSONObject("metrics")?.optJSONObject("test")),
                ood = parseOod(doc),
                onDevice = parseOnDevice(doc),
                explain = parseExplain(doc),
            )
        }
    }

    private fun parseInput(input: JSONObject): InputSpec {
        val where = "model.json.input"
        val channels = input.int("channels", where)
        val color = input.str("color", where)
        val dtype = input.str("dtype", where)
        if (channels != 3 || color != "RGB" || dtype != "float32") {
            throw ContractException("$where: only 3-channel RGB float32 input is supported, got $channels/$color/$dtype")
        }
        val range = input.optJSONArray("value_range")
        return InputSpec(
            height = input.int("height", where),
            width = input.int("width", where),
            valueMin = range?.let { wrap("$where.value_range") { it.getDouble(0) } } ?: 0.0,
            valueMax = range?.let { wrap("$where.value_range") { it.getDouble(1) } } ?: 255.0,
            resizeMethod = wrap("$where.resize_method") { ResizeMethod.fromWire(input.optString("resize_method", "bilinear")) },
            resizeAspect = wrap("$where.resize_aspect") { ResizeAspect.fromWire(input.optString("resize_aspect", "center_crop")) },
        )
    }

    /**
     * `recommendation_bands` with the rule `threshold_fraction`, checked like the serving app's
     * `check_bands`; a bundle exported before the bands followed the threshold (benign bands on
     * `min_benign_probability`, no `rule`) is refused with a message saying to export it again.
     */
    private fun parseBands(bands: JSONObject): RecommendationBands {
        val where = "model.json.recommendation_bands"
        val rule = if (bands.isNull("rule")) null else bands.opt("rule")
        if (rule != RecommendationBands.RULE) {
            throw ContractException(
                "$where.rule must be '${RecommendationBands.RULE}', got ${rule?.let { "'$it'" }} " +
                    "(a bundle exported before the bands followed the threshold: export it again)"
            )
        }
        val benign = (bands.optJSONArray("benign") ?: JSONArray()).objects("$where.benign").mapIndexed { i, b ->
            BenignBand(
                maxThresholdFraction = b.num("max_threshold_fraction", "$where.benign[$i]"),
                level = b.str("level", "$where.benign[$i]"),
                severity = b.int("severity", "$where.benign[$i]"),
                text = b.str("text", "$where.benign[$i]"),
            )
        }
        val malignant = bands.obj("malignant", where)
        return try {
            RecommendationBands(
                benign = benign,
                malignant = MalignantBand(
                    level = malignant.str("level", "$where.malignant"),
                    severity = malignant.int("severity", "$where.malignant"),
                    text = malignant.str("text", "$where.malignant"),
                ),
                retake = recommendation(bands.obj("retake", where), "$where.retake"),
            )
        } catch (e: IllegalArgumentException) {
            throw ContractException(e.message ?: where, e) // the message already names the key
        }
    }

    private fun recommendation(o: JSONObject, where: String) = Recommendation(o.str("level", where), o.str("text", where))

    private fun parseQualityGate(gate: JSONObject, input: InputSpec): QualityGate {
        val where = "model.json.quality_gate"
        val minSide = gate.int("min_side_px", where)
        val analysisSide = gate.int("analysis_max_side_px", where)
        // As the serving app checks it (serving/model.py check_upload_side): optional (older bundles
        // get the export's default), an integer no smaller than what the gate and the model need.
        val uploadSide = if (gate.isNull("upload_max_side_px")) QualityGate.DEFAULT_UPLOAD_MAX_SIDE_PX else {
            val raw = gate.opt("upload_max_side_px")
            val need = maxOf(analysisSide, minSide, input.height, input.width)
            if (raw !is Int || raw < need) {
                throw ContractException(
                    "$where.upload_max_side_px must be an integer >= $need " +
                        "(analysis_max_side_px, min_side_px and the model input), got $raw"
                )
            }
            raw
        }
        // The exposure keys relative to the scene and the edge-sharpness blur key, as serving/model.py
        // check_exposure_keys reads them: optional (older bundles keep the mean rule, the variance-only
        // blur rule), numbers (not strings), midtone with highlight.
        fun optionalNumber(key: String): Double? {
            if (gate.isNull(key)) return null
            val raw = gate.opt(key)
            if (raw !is Number) throw ContractException("$where.$key must be a number, got $raw")
            return raw.toDouble()
        }
        val midtone = optionalNumber("dark_max_midtone")
        val highlight = optionalNumber("dark_max_highlight")
        val neutralMidtone = optionalNumber("dark_max_midtone_neutral")
        val neutralRatio = optionalNumber("neutral_min_ratio")
        for ((first, second) in listOf("dark_max_midtone" to "dark_max_highlight",
                                       "dark_max_midtone_neutral" to "neutral_min_ratio")) {
            if (gate.isNull(first) != gate.isNull(second)) {
                throw ContractException("$where.$first and $second go together: give both or neither")
            }
        }
        if (neutralMidtone != null && highlight == null) {
            throw ContractException("$where.dark_max_midtone_neutral needs dark_max_highlight (it judges dim scenes only)")
        }
        return QualityGate(
            minSidePx = minSide,
            analysisMaxSidePx = analysisSide,
            blurMinLaplacianVar = gate.num("blur_min_laplacian_var", where),
            darkMaxMean = gate.num("dark_max_mean", where),
            brightMinMean = gate.num("bright_min_mean", where),
            clippedMaxFraction = gate.num("clipped_max_fraction", where),
            darkMaxMidtone = midtone,
            darkMaxHighlight = highlight,
            whiteClippedMaxFraction = optionalNumber("white_clipped_max_fraction"),
            darkMaxMidtoneNeutral = neutralMidtone,
            neutralMinRatio = neutralRatio,
            colourClippedMaxFraction = optionalNumber("colour_clipped_max_fraction"),
            blurMinEdgeSharpness = optionalNumber("blur_min_edge_sharpness"),
            uploadMaxSidePx = uploadSide,
        )
    }

    /**
     * model.json `on_device` + `files`: the LiteRT model the phone runs. No `on_device` (a bundle
     * exported before float and int8 were compared): int8, as the app always ran. `recommended_model`
     * must be `float` or `int8`; its file comes from `files` (`tflite` / `tflite_int8`), or, in a
     * document without `files` (`GET /v1/model` leaves them out), from the export's file names.
     */
    private fun parseOnDevice(doc: JSONObject): OnDeviceChoice {
        val files = if (doc.isNull("files")) null else doc.obj("files", "model.json")
        fun fileOf(model: OnDeviceModel): String =
            files?.str(model.fileKey, "model.json.files") ?: model.defaultFile
        if (doc.isNull("on_device")) return OnDeviceChoice.legacy(fileOf(OnDeviceModel.INT8))
        val where = "model.json.on_device"
        val entry = doc.obj("on_device", "model.json")
        val model = OnDeviceModel.fromWire(entry.str("recommended_model", where))
        return OnDeviceChoice(
            model = model,
            file = fileOf(model),
            measured = entry.optBoolean("measured", false),
            reason = entry.optString("reason", ""),
        )
    }

    /** As the serving app reads it (`serving/ood.py`): absent or empty means no check. */
    private fun parseOod(doc: JSONObject): OodSpec? {
        if (doc.isNull("ood")) return null
        val where = "model.json.ood"
        val ood = doc.obj("ood", "model.json").takeIf { it.length() > 0 } ?: return null
        return OodSpec(
            file = ood.optString("file", "ood.tflite"),
            // Bundles written before `threshold` existed carry their squared distance as threshold_squared.
            threshold = ood.num(if (ood.has("threshold") || !ood.has("threshold_squared")) "threshold" else "threshold_squared", where),
            qualityIssue = ood.optString("quality_issue", NotALesionCheck.ISSUE),
        )
    }

    /**
     * As the serving app reads it (`serving/explain.py`): absent, null or empty means no map (older
     * bundles, an ensemble). The heatmap output's shape must be rank 3 `[1, h, w]`; the overlay's
     * alpha a number in [0, 1] (default 0.4) and its colour map `jet` (the default).
     */
    private fun parseExplain(doc: JSONObject): ExplainSpec? {
        if (doc.isNull("explain")) return null
        val where = "model.json.explain"
        val entry = doc.obj("explain", "model.json").takeIf { it.length() > 0 } ?: return null
        val heatmap = entry.obj("outputs", where).obj("heatmap", "$where.outputs")
        val shape = wrap("$where.outputs.heatmap.shape") {
            heatmap.getJSONArray("shape").let { a -> List(a.length()) { a.getInt(it) } }
        }
        if (shape.size != 3 || shape[0] != 1) {
            throw ContractException("$where.outputs.heatmap.shape must be [1, h, w] (rank 3), got $shape")
        }
        val overlay = if (entry.isNull("overlay")) JSONObject() else entry.obj("overlay", where)
        val alpha = if (overlay.isNull("alpha")) 0.4 else overlay.opt("alpha").let { raw ->
            if (raw !is Number) throw ContractException("$where.overlay.alpha must be a number in [0, 1], got $raw")
            raw.toDouble()
        }
        return try {
            ExplainSpec(
                file = entry.optString("file", "explain.tflite"),
                method = entry.optString("method", "grad-cam"),
                heatmapHeight = shape[1],
                heatmapWidth = shape[2],
                colormap = overlay.optString("colormap", ExplainSpec.COLORMAP),
                alpha = alpha,
            )
        } catch (e: IllegalArgumentException) {
            throw ContractException(e.message ?: where, e) // the message already names the key
        }
    }

    /** Keeps the numeric test metrics (a tiny test bundle may carry only a note). */
    private fun numericMetrics(metrics: JSONObject?): Map<String, Double> {
        if (metrics == null) return emptyMap()
        val out = linkedMapOf<String, Double>()
        for (key in metrics.keys()) {
            val v = metrics.opt(key)
            if (v is Number) out[key] = v.toDouble()
        }
        return out
    }
}
