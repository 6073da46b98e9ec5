package com.melanomaexp.core

/** The two classes every exported model distinguishes (contract 4: labels ["benign","malignant"]). */
enum class Label(val wire: String) {
    BENIGN("benign"),
    MALIGNANT("malignant");

    companion object {
        /** Maps the API's lowercase label; anything else is a protocol error, not a silent default. */
        fun fromWire(value: String): Label =
            entries.firstOrNull { it.wire == value }
                ?: throw IllegalArgumentException(
                    "Unknown label '$value'. Known: ${entries.joinToString { it.wire }}"
                )
    }
}

/** Where a prediction was computed: the remote endpoint or the bundled LiteRT model. */
enum class InferenceSource { REMOTE, ON_DEVICE }

/** What the user should do next, as chosen by the model's recommendation bands. */
data class Recommendation(val level: String, val text: String)

/** Photo-quality verdict; issues are the server's codes (`blurry`, `too_dark`, `not_a_lesion`, ...). */
data class Quality(val ok: Boolean, val issues: List<String>)

/** Identifies the model that answered, so results can be traced to a bundle. */
data class ModelRef(val name: String, val version: String)

/**
 * One answer of `POST /v1/predict` (contract 5), or the same shape computed on the device.
 *
 * The photo itself is deliberately not part of this type: nothing downstream of the answer may keep it.
 * The one exception is [explanation]'s overlay, present only when the user asked where the model
 * looked (`?explain=1`): the map blended over the model's small input-size view, shown with the
 * result and dropped with it, never written anywhere.
 */
data class Prediction(
    val label: Label,
    val malignantProbability: Double,
    val benignProbability: Double,
    val threshold: Double,
    val recommendation: Recommendation,
    val quality: Quality,
    val model: ModelRef,
    val disclaimer: String,
    val latencyMs: Double,
    val source: InferenceSource = InferenceSource.REMOTE,
    /** `explanation` of an answer to `?explain=1`; null when not asked for (or an older server). */
    val explanation: Explanation? = null,
)
