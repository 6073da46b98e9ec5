package com.melanomaexp.core

import kotlin.math.roundToInt

/** How loudly a result or advice speaks; the Android layer maps it to colour and icon. */
enum class Tone { REASSURING_BUT_CAUTIOUS, CAUTION, URGENT }

/** Everything the result screen shows, already worded. */
data class ResultView(
    val headline: String,
    val probabilityText: String,
    val malignantPercent: Int,
    val tone: Tone,
    val qualityWarnings: List<String>,
    val sourceNote: String,
    val disclaimer: String,
    /** The photo shows no lesion: retake leads, and the estimate is no answer (no gauge). */
    val retakeFirst: Boolean = false,
)

/** Everything the advice screen shows, already worded. */
data class AdviceView(
    val title: String,
    val text: String,
    val tone: Tone,
    val alwaysSeeADoctorIf: String,
    val disclaimer: String,
)

/**
 * The result screen's "Where the model looked" block, already worded: [overlay] when the answer
 * carries the overlay ([Explanation.Available.overlay]: the server's PNG or the phone's own
 * drawing, shown beside the verdict), otherwise [text] says why there is none; [note] is the caveat
 * that the map is no diagnosis.
 */
data class ExplanationView(
    val title: String,
    val text: String,
    val note: String,
    val overlay: Explanation.Available?,
)

/** One onboarding / instructions card. */
data class PhotoTip(val title: String, val text: String)

/**
 * Words for the result and advice screens. A benign verdict never reads as "safe" or "healthy":
 * the model misses some melanomas, so every benign text carries a reason to keep watching.
 */
object Presentation {
    /** The photo instructions shown on first launch and from the menu (thesis app, refined). */
    val photoTips: List<PhotoTip> = listOf(
        PhotoTip("Light", "Use bright, even daylight. Avoid shadows across the mole and strong coloured light."),
        PhotoTip("Focus", "Tap the mole on the screen to focus. A blurry photo gives an unreliable result."),
        PhotoTip("Distance", "Hold the phone about 10 cm away so the mole fills the middle of the frame."),
        PhotoTip("Flash", "Switch the flash off: it causes glare and bright spots on the skin."),
        PhotoTip("Steady hand", "Rest your elbow or ask someone to help, and hold still while the photo is taken."),
        PhotoTip("Hair", "Move hair away from the mole or trim it carefully; hair hides the lesion's border."),
    )

    /** Shown under every advice, whatever the model said. */
    const val SEE_A_DOCTOR_IF =
        "Whatever this app says, see a doctor if a mole is new, changes in size, shape or colour, itches, or bleeds."

    /** Words a probability as a whole percentage, never claiming 0 % or 100 % certainty. */
    fun percentText(probability: Double): String {
        val percent = (probability * 100).roundToInt()
        return when {
            percent < 1 -> "less than 1 %"
            percent > 99 -> "more than 99 %"
            else -> "$percent %"
        }
    }

    /** Leads the result when the not-a-lesion check fired: the serving app's issue wording, then what to do. */
    val NOT_A_LESION_HEADLINE: String =
        QualityCheck.issueText.getValue(NotALesionCheck.ISSUE).replaceFirstChar { it.uppercase() } + " — retake the photo"

    /** The result screen for [prediction]. */
    fun result(prediction: Prediction): ResultView {
        val malignant = prediction.label == Label.MALIGNANT
        val notALesion = NotALesionCheck.ISSUE in prediction.quality.issues
        val headline = when {
            notALesion -> NOT_A_LESION_HEADLINE
            malignant -> "Possibly malignant — please have it checked"
            else -> "No strong sign of malignancy found — this is not an all-clear"
        }
        val percent = percentText(prediction.malignantProbability)
        val warnings = if (prediction.quality.ok) emptyList() else
            listOf("The photo quality may make this result unreliable:") +
                prediction.quality.issues.map { QualityCheck.issueText[it] ?: it }
        return ResultView(
            headline = headline,
            // Still shown (a worrying estimate is never hidden), but not as an answer.
            probabilityText = if (notALesion) {
                "Not a reliable result: for this photo the model estimates $percent probability of malignancy"
            } else {
                "Estimated probability of malignancy: $percent"
            },
            malignantPercent = (prediction.malignantProbability * 100).roundToInt().coerceIn(0, 100),
            tone = toneFor(prediction),
            qualityWarnings = warnings,
            sourceNote = when (prediction.source) {
                InferenceSource.REMOTE -> "Analysed by ${prediction.model.name} ${prediction.model.version} on the server."
                InferenceSource.ON_DEVICE -> "Analysed on this phone by ${prediction.model.name} ${prediction.model.version}."
            },
            disclaimer = prediction.disclaimer,
            retakeFirst = notALesion,
        )
    }

    /** The heading of the overlay block, and the setting that asks for it. */
    const val EXPLANATION_TITLE = "Where the model looked"

    /** Said under every map, whatever the server's note says. */
    const val EXPLANATION_NOTE =
        "Warm colours show the parts of the photo that weighed most in this estimate. The map shows what the " +
            "model used, not where a lesion is or whether it is malignant. Not medical advice."

    /**
     * The overlay block for [prediction], or null when the user did not ask for it ([requested]:
     * the setting "Show where the model looked").
     */
    fun explanation(prediction: Prediction, requested: Boolean): ExplanationView? {
        if (!requested) return null
        val note = prediction.explanation?.note?.ifBlank { null } ?: EXPLANATION_NOTE
        return when (val e = prediction.explanation) {
            is Explanation.Available -> ExplanationView(
                EXPLANATION_TITLE, "Overlay on the photo as the model saw it (${e.overlayWidth}×${e.overlayHeight} px).", note, e,
            )
            is Explanation.Unavailable -> ExplanationView(EXPLANATION_TITLE, "No map for this result: ${e.reason}", note, null)
            null -> ExplanationView(
                EXPLANATION_TITLE,
                when (prediction.source) {
                    InferenceSource.ON_DEVICE -> "No map for this result: “Show where the model looked” was off when this phone analysed the photo."
                    InferenceSource.REMOTE -> "No map for this result: the server did not send one (it may predate this feature)."
                },
                note, null,
            )
        }
    }

    /** The advice screen: the recommendation text from the answer, plus the standing caveat. */
    fun advice(prediction: Prediction): AdviceView = AdviceView(
        title = titleFor(prediction.recommendation.level),
        text = prediction.recommendation.text,
        tone = toneFor(prediction),
        alwaysSeeADoctorIf = SEE_A_DOCTOR_IF,
        disclaimer = prediction.disclaimer,
    )

    /** Tone follows the recommendation level; unknown levels from a newer bundle default to caution. */
    fun toneFor(prediction: Prediction): Tone = when {
        prediction.label == Label.MALIGNANT -> Tone.URGENT
        prediction.recommendation.level in URGENT_LEVELS -> Tone.URGENT
        prediction.recommendation.level == "likely_benign" && prediction.quality.ok -> Tone.REASSURING_BUT_CAUTIOUS
        else -> Tone.CAUTION
    }

    private val URGENT_LEVELS = setOf("seek_care", "immediate_examination")

    private fun titleFor(level: String): String = when (level) {
        "likely_benign" -> "Keep an eye on it"
        "monitor" -> "Monitor and retake"
        "see_dermatologist" -> "See a dermatologist"
        "immediate_examination", "seek_care" -> "See a doctor soon"
        "retake_photo" -> "Retake the photo"
        else -> level.replace('_', ' ').replaceFirstChar { it.uppercase() }
    }
}
