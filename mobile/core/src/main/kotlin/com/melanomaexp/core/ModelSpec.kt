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

/** A benign-verdict band: applies when the benign probability is at least [minBenignProbability]. */
data class BenignBand(val minBenignProbability: Double, val level: String, val text: String)

/**
 * The advice table of model.json `recommendation_bands` (thesis Table 5.1): benign verdicts are
 * graded by confidence, every malignant verdict gets [malignant], and a failed quality gate [retake].
 */
data class RecommendationBands(
    val benign: List<BenignBand>,
    val malignant: Recommendation,
    val retake: Recommendation,
) {
    init {
        require(benign.isNotEmpty()) { "model.json recommendation_bands.benign is empty" }
    }

    /** The benign band for [benignProbability]: the highest minimum it reaches, else the most cautious. */
    fun benignBand(benignProbability: Double): BenignBand {
        val sorted = benign.sortedByDescending { it.minBenignProbability }
        // Below every minimum still gets the most cautious band: a gap must never mean "no advice".
        return sorted.firstOrNull { benignProbability >= it.minBenignProbability } ?: sorted.last()
    }
}

/** Photo-quality thresholds of model.json `quality_gate`, shared with the serving app. */
data class QualityGate(
    val minSidePx: Int,
    val analysisMaxSidePx: Int,
    val blurMinLaplacianVar: Double,
    val darkMaxMean: Double,
    val brightMinMean: Double,
    val clippedMaxFraction: Double,
)

/**
 * model.json `ood`: the optional not-a-lesion check. [file] (`ood.tflite`) takes the classifier's
 * input and returns the squared Mahalanobis distance of the photo's features to the training
 * lesions; at or above [thresholdSquared] the photo gets the quality issue [qualityIssue].
 */
data class OodSpec(val file: String, val thresholdSquared: Double, val qualityIssue: String) {
    init {
        require(thresholdSquared.isFinite() && thresholdSquared >= 0.0) {
            "model.json ood.threshold_squared must be a finite number >= 0, got $thresholdSquared"
        }
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
}
