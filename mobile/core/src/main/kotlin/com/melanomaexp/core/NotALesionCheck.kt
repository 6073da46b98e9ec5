package com.melanomaexp.core

/** Runs the bundle's `ood.tflite`; the Android layer implements it with the LiteRT Interpreter. */
fun interface DistanceModel {
    /** The squared Mahalanobis distance of one preprocessed input (the classifier's input). */
    fun distanceSquared(input: ModelInput): Double
}

/**
 * The not-a-lesion check on the phone, exactly as the serving app's `OODScorer` (`serving/ood.py`):
 * `ood.tflite` turns the classifier's input into the squared Mahalanobis distance of its features
 * to the training lesions, and a distance at or above model.json's `ood.threshold_squared` adds the
 * quality issue `ood.quality_issue` (`not_a_lesion`). The verdict is still given; the advice puts
 * "retake the photo" first (see [Advisor]).
 */
class NotALesionCheck(private val spec: OodSpec, private val model: DistanceModel) {
    /** The squared distance for one preprocessed input. */
    fun distanceSquared(input: ModelInput): Double = model.distanceSquared(input)

    /** `[not_a_lesion]` when [input] is out of distribution, else empty. */
    fun issues(input: ModelInput): List<String> = issuesFor(spec, distanceSquared(input))

    companion object {
        /** The issue code the serving app reports (and the default of model.json `ood.quality_issue`). */
        const val ISSUE = "not_a_lesion"

        /** The decision itself: at the threshold counts as out of distribution, as on the server. */
        fun issuesFor(spec: OodSpec, distanceSquared: Double): List<String> =
            if (distanceSquared >= spec.thresholdSquared) listOf(spec.qualityIssue) else emptyList()
    }
}
