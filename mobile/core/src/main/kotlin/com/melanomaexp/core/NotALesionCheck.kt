package com.melanomaexp.core

/** Runs the bundle's `ood.tflite`; the Android layer implements it with the LiteRT Interpreter. */
fun interface OodScoreModel {
    /** The not-a-lesion score of one preprocessed input (the classifier's input). */
    fun score(input: ModelInput): Double
}

/**
 * The not-a-lesion check on the phone, exactly as the serving app's `OODScorer` (`serving/ood.py`):
 * `ood.tflite` turns the classifier's input into a not-a-lesion score (the lesion gate's probability,
 * or for older bundles a squared Mahalanobis distance), and a score at or above model.json's
 * `ood.threshold` adds the quality issue `ood.quality_issue` (`not_a_lesion`). The verdict is still
 * given; the advice puts "retake the photo" first (see [Advisor]).
 */
class NotALesionCheck(private val spec: OodSpec, private val model: OodScoreModel) {
    /** The score for one preprocessed input. */
    fun score(input: ModelInput): Double = model.score(input)

    /** `[not_a_lesion]` when [input] is out of distribution, else empty. */
    fun issues(input: ModelInput): List<String> = issuesFor(spec, score(input))

    companion object {
        /** The issue code the serving app reports (and the default of model.json `ood.quality_issue`). */
        const val ISSUE = "not_a_lesion"

        /** The decision itself: at the threshold counts as out of distribution, as on the server. */
        fun issuesFor(spec: OodSpec, score: Double): List<String> =
            if (score >= spec.threshold) listOf(spec.qualityIssue) else emptyList()
    }
}
