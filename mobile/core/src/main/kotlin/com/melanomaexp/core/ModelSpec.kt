package com.melanomaexp.core

/** How the photo's aspect ratio is treated when resizing (model.json `input.resize_aspect`). */
enum class ResizeAspect(val wire: String) {
    /** Take the centred box of the model's aspect ratio, then resize it (the training pipeline's way). */
    CENTER_CROP("center_crop"),

    /** Resize the whole photo to the model size, distorting the aspect ratio. */
    STRETCH("stretch");

    companion object {
        fun fromWire(value: String): ResizeAspect =
            entries.firstOrNull { it.wire == value }
                ?: throw IllegalArgumentException(
                    "model.json input.resize_aspect '$value' is not supported. Known: ${entries.joinToString { it.wire }}"
                )
    }
}

/**
 * How to turn a decoded photo into the model input (the `input` block of model.json).
 *
 * Every exported model takes float32 RGB in [valueMin, valueMax] (0-255) at [height] x [width];
 * normalisation is a layer inside the model, so consumers only decode, orient and resize.
 */
data class InputSpec(
    val height: Int,
    val width: Int,
    val valueMin: Double = 0.0,
    val valueMax: Double = 255.0,
    val resizeMethod: ResizeMethod = ResizeMethod.BILINEAR,
    val resizeAspect: ResizeAspect = ResizeAspect.CENTER_CROP,
) {
    init {
        require(height > 0 && width > 0) { "model.json input: height/width must be positive, got ${height}x$width" }
        require(valueMax > valueMin) { "model.json input.value_range: max must exceed min, got [$valueMin, $valueMax]" }
    }
}

/** One row of the advice table: what to say ([level], [text]) and how urgent it is ([severity]). */
sealed interface AdviceBand {
    val level: String
    val severity: Int
    val text: String

    /** The advice as an answer carries it (contract 5 `recommendation`). */
    val recommendation: Recommendation get() = Recommendation(level, text)
}

/**
 * A benign-verdict band: applies when p(malignant) <= [maxThresholdFraction] x the decision
 * threshold (the first such band in file order; the last band, fraction 1, takes the rest).
 */
data class BenignBand(
    val maxThresholdFraction: Double,
    override val level: String,
    override val severity: Int,
    override val text: String,
) : AdviceBand

/** The advice for every malignant verdict (p(malignant) >= the decision threshold). */
data class MalignantBand(
    override val level: String,
    override val severity: Int,
    override val text: String,
) : AdviceBand

/**
 * The advice table of model.json `recommendation_bands` (rule `threshold_fraction`, thesis Table 5.1
 * at its threshold 0.5), the same rule the serving app applies (`serving/recommend.py`):
 * p(malignant) >= the decision threshold t gets [malignant]; a benign verdict gets the first
 * [benign] band with p <= maxThresholdFraction x t, the last band (fraction 1) taking the rest below
 * t; a failed quality gate puts [retake] first. The checks are `check_bands`': fractions rise strictly
 * within (0, 1] and end at 1, severities never fall (benign bands in order, then malignant), so for
 * every t each band is reachable and a higher probability never gets milder advice.
 */
data class RecommendationBands(
    val benign: List<BenignBand>,
    val malignant: MalignantBand,
    val retake: Recommendation,
) {
    init {
        require(benign.isNotEmpty()) { "$WHERE.benign is empty" }
        require(malignant.text.isNotEmpty()) { "$WHERE.malignant needs a level and a text" }
        require(retake.text.isNotEmpty()) { "$WHERE.retake needs a level and a text" }
        val fractions = benign.map { it.maxThresholdFraction }
        require(fractions.all { it > 0.0 && it <= 1.0 } && fractions.zipWithNext().all { (a, b) -> a < b }) {
            "$WHERE.benign[*].max_threshold_fraction must rise strictly within (0, 1], got $fractions"
        }
        require(fractions.last() == 1.0) {
            "$WHERE.benign[-1].max_threshold_fraction must be 1.0 (every benign verdict gets a band), got ${fractions.last()}"
        }
        val severities = benign.map { it.severity } + malignant.severity
        require(severities.zipWithNext().all { (a, b) -> a <= b }) {
            "$WHERE: severity must never fall as p(malignant) rises (benign bands in order, then malignant), got $severities"
        }
    }

    /**
     * The label and band for [malignantProbability] at decision [threshold] (`advice_band` of
     * `serving/recommend.py`): the rule of the class comment, nothing else.
     */
    fun adviceBand(malignantProbability: Double, threshold: Double): Pair<Label, AdviceBand> {
        if (malignantProbability >= threshold) return Label.MALIGNANT to malignant
        // Float rounding just below t can pass every edge; the last band (fraction 1) takes it.
        val band = benign.firstOrNull { malignantProbability <= it.maxThresholdFraction * threshold } ?: benign.last()
        return Label.BENIGN to band
    }

    companion object {
        /** The only `recommendation_bands.rule` this app (and the serving app) applies. */
        const val RULE = "threshold_fraction"
        private const val WHERE = "model.json.recommendation_bands"
    }
}

/**
 * Photo-quality thresholds of model.json `quality_gate`, shared with the serving app, and
 * [uploadMaxSidePx]: the long side a photo is downscaled to before it is uploaded ([UploadPhoto]).
 * The exposure limits relative to the scene ([darkMaxMidtone], [darkMaxHighlight],
 * [whiteClippedMaxFraction]) are null for bundles exported before them: those keep the mean-luma and
 * clipping rule, as the serving app does; so are the limits that read the scene's colour
 * ([darkMaxMidtoneNeutral], [neutralMinRatio], [colourClippedMaxFraction]) for bundles exported
 * before those, and [blurMinEdgeSharpness] for bundles exported before it (they keep the
 * Laplacian-variance blur rule alone).
 */
data class QualityGate(
    val minSidePx: Int,
    val analysisMaxSidePx: Int,
    val blurMinLaplacianVar: Double,
    val darkMaxMean: Double,
    val brightMinMean: Double,
    val clippedMaxFraction: Double,
    /** `dark_max_midtone`: too dark below this median brightest channel (with [darkMaxHighlight]). */
    val darkMaxMidtone: Double? = null,
    /** `dark_max_highlight`: ... when its 99th percentile is also below this. */
    val darkMaxHighlight: Double? = null,
    /** `white_clipped_max_fraction`: over-exposed above this share of pixels clipped in R, G and B. */
    val whiteClippedMaxFraction: Double? = null,
    /** `dark_max_midtone_neutral`: a dim neutral scene is too dark below this midtone. */
    val darkMaxMidtoneNeutral: Double? = null,
    /** `neutral_min_ratio`: neutral when the median darkest/brightest channel ratio is at least this. */
    val neutralMinRatio: Double? = null,
    /** `colour_clipped_max_fraction`: over-exposed above this share clipped in a saturated colour. */
    val colourClippedMaxFraction: Double? = null,
    /** `blur_min_edge_sharpness`: under the variance limit, blurred only when edge sharpness is below this too. */
    val blurMinEdgeSharpness: Double? = null,
    /** `upload_max_side_px`; bundles exported before it existed get the export's default. */
    val uploadMaxSidePx: Int = DEFAULT_UPLOAD_MAX_SIDE_PX,
) {
    companion object {
        /** The export's default `upload_max_side_px` (melanoma_exp/export/bundle.py DEFAULT_QUALITY_GATE). */
        const val DEFAULT_UPLOAD_MAX_SIDE_PX = 1024
    }
}

/**
 * The two LiteRT models a bundle ships for the phone: the float32 one and the dynamic-range int8 one,
 * named by their key in model.json `files` ([fileKey]) and, in bundles without `files` (the public
 * `GET /v1/model` view), by the export's file name ([defaultFile]).
 */
enum class OnDeviceModel(val wire: String, val fileKey: String, val defaultFile: String) {
    FLOAT("float", "tflite", "model.tflite"),
    INT8("int8", "tflite_int8", "model_int8.tflite");

    companion object {
        /** Maps model.json `on_device.recommended_model`; an unknown value names the key and the known ones. */
        fun fromWire(value: String): OnDeviceModel =
            entries.firstOrNull { it.wire == value }
                ?: throw ContractException(
                    "model.json.on_device.recommended_model must be one of " +
                        "${entries.joinToString { "'${it.wire}'" }}, got '$value'"
                )
    }
}

/**
 * Which LiteRT model the phone runs by default: model.json `on_device` (the export scores float and
 * int8 on the test split at the bundle's threshold and recommends float when int8 flips more than 1 %
 * of the decisions or loses sensitivity). [file] is the asset to load, from model.json `files`.
 */
data class OnDeviceChoice(
    val model: OnDeviceModel,
    val file: String,
    /** Whether the export measured float vs int8 (false: not measured, or no `on_device` entry). */
    val measured: Boolean,
    val reason: String,
) {
    companion object {
        /** A bundle exported before `on_device` existed: the int8 model, as the app always ran. */
        fun legacy(file: String = OnDeviceModel.INT8.defaultFile) = OnDeviceChoice(
            OnDeviceModel.INT8, file, measured = false,
            reason = "model.json has no on_device entry (exported before float and int8 were compared): int8, as before",
        )
    }
}

/**
 * model.json `ood`: the optional not-a-lesion check. [file] (`ood.tflite`) takes the classifier's
 * input and returns one not-a-lesion score (model.json `ood.method`/`ood.output` say which: the lesion
 * gate's probability, or a squared Mahalanobis distance); at or above [threshold] the photo gets the
 * quality issue [qualityIssue].
 */
data class OodSpec(val file: String, val threshold: Double, val qualityIssue: String) {
    init {
        require(threshold.isFinite()) {
            "model.json ood.threshold must be a finite number, got $threshold"
        }
    }
}

/**
 * model.json `explain`: the optional Grad-CAM model [file] (`explain.tflite`: the classifier's input;
 * outputs the probability (1, 1) and the map (1, [heatmapHeight], [heatmapWidth]), told apart by
 * rank) and how its overlay is drawn ([Overlay]: colour map [colormap], blended at [alpha]).
 */
data class ExplainSpec(
    val file: String,
    val method: String,
    val heatmapHeight: Int,
    val heatmapWidth: Int,
    val colormap: String,
    val alpha: Double,
) {
    init {
        require(heatmapHeight > 0 && heatmapWidth > 0) {
            "model.json explain.outputs.heatmap.shape must be [1, h, w] with h, w > 0, got [1, $heatmapHeight, $heatmapWidth]"
        }
        require(alpha in 0.0..1.0) { "model.json explain.overlay.alpha must be in [0, 1], got $alpha" }
        require(colormap == COLORMAP) { "model.json explain.overlay.colormap must be '$COLORMAP' (the one the app draws), got '$colormap'" }
    }

    companion object {
        /** The colour map [Overlay] draws, as the serving app does. */
        const val COLORMAP = "jet"
    }
}

/** The parts of model.json a consumer needs (contract 4), read once per bundle. */
data class ModelSpec(
    val name: String,
    val version: String,
    val input: InputSpec,
    val threshold: Double,
    val bands: RecommendationBands,
    val qualityGate: QualityGate,
    val disclaimer: String,
    val intendedUse: String,
    val limitations: List<String>,
    val testMetrics: Map<String, Double>,
    /** The not-a-lesion check, or null for bundles exported without one. */
    val ood: OodSpec? = null,
    /** The LiteRT model the phone runs (model.json `on_device` + `files`). */
    val onDevice: OnDeviceChoice = OnDeviceChoice.legacy(),
    /** Where the model looked (Grad-CAM), or null for bundles without `explain.tflite`. */
    val explain: ExplainSpec? = null,
) {
    init {
        require(threshold > 0.0 && threshold < 1.0) { "model.json decision_threshold must be in (0, 1), got $threshold" }
        require(disclaimer.isNotBlank()) { "model.json disclaimer is empty" }
    }

    /** The label the decision threshold gives; exactly at the threshold leans malignant (sensitivity). */
    fun labelFor(malignantProbability: Double): Label =
        if (malignantProbability >= threshold) Label.MALIGNANT else Label.BENIGN

    /** The model reference an answer carries. */
    val ref: ModelRef get() = ModelRef(name, version)

    /** The bundle file the phone's classifier loads (`model.tflite` or `model_int8.tflite`). */
    val onDeviceModelFile: String get() = onDevice.file
}
