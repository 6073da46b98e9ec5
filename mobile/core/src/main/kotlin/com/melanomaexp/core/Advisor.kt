package com.melanomaexp.core

/**
 * Turns a probability into the label and advice with the bundle's bands — the phone's copy of the
 * serving app's `recommend()` (`serving/recommend.py`), so an on-device answer reads exactly like a
 * remote one: p(malignant) >= the decision threshold t is malignant with the malignant advice,
 * otherwise the first benign band with p <= max_threshold_fraction x t ([RecommendationBands]).
 */
object Advisor {
    /** The label and band for [malignantProbability] at the bundle's decision threshold. */
    fun adviceBand(spec: ModelSpec, malignantProbability: Double): Pair<Label, AdviceBand> =
        spec.bands.adviceBand(malignantProbability, spec.threshold)

    /** Label and recommendation for [malignantProbability] given the photo's [qualityIssues]. */
    fun recommend(spec: ModelSpec, malignantProbability: Double, qualityIssues: List<String>): Pair<Label, Recommendation> {
        val (label, band) = adviceBand(spec, malignantProbability)
        val advice = band.recommendation
        if (qualityIssues.isEmpty()) return label to advice
        // A bad photo puts "retake" first but keeps the band's advice: it never hides a worrying result.
        val retake = spec.bands.retake
        val problems = qualityIssues.joinToString("; ") { QualityCheck.issueText[it] ?: it }
        val lead = if (NotALesionCheck.ISSUE in qualityIssues) NOT_A_LESION_LEAD else ""
        return label to Recommendation(retake.level, "$lead${retake.text} (Problem: $problems.) Meanwhile: ${advice.text}")
    }

    /** How a not-a-lesion answer's advice starts, as `serving.recommend.NOT_A_LESION_LEAD`. */
    const val NOT_A_LESION_LEAD = "This does not look like a photo of a skin lesion — retake the photo. "
}

/** Runs the bundled LiteRT model; the Android layer implements it with the LiteRT Interpreter. */
fun interface ProbabilityModel {
    /** The malignant probability for one preprocessed input. */
    fun malignantProbability(input: ModelInput): Double
}

/**
 * Runs the bundle's `explain.tflite` (model.json `explain`): the same input as the classifier, the
 * Grad-CAM map of its rank-3 output `[1, h, w]`, values in [0, 1]. The Android layer implements it
 * with the LiteRT Interpreter ([Heatmap.fromModelOutput] cleans the output as the server does).
 */
fun interface HeatmapModel {
    /** The map for one preprocessed input. */
    fun heatmap(input: ModelInput): Heatmap
}

/**
 * On-device inference: decode → quality gate → preprocess → model (+ not-a-lesion check) → advice,
 * giving the same [Prediction] shape as the endpoint. The photo bytes are only read, never kept.
 *
 * [oodModel] runs the bundle's `ood.tflite` when model.json has an `ood` entry; without it the
 * phone answers like a server whose bundle lacks the file (no `not_a_lesion` check).
 * [heatmapModel] runs `explain.tflite` when model.json has an `explain` entry, only for an analysis
 * asked to explain; without it such an analysis says why there is no map, as the server does.
 */
class OnDeviceAnalyzer(
    private val spec: ModelSpec,
    private val decoder: ImageDecoder,
    private val model: ProbabilityModel,
    oodModel: OodScoreModel? = null,
    private val heatmapModel: HeatmapModel? = null,
    private val clock: () -> Long = System::nanoTime,
) {
    private val preprocessor = Preprocessor(spec.input)
    private val notALesion: NotALesionCheck? = oodModel?.let { m ->
        val ood = requireNotNull(spec.ood) { "an ood model was given but model.json has no ood entry" }
        NotALesionCheck(ood, m)
    }

    init {
        require(heatmapModel == null || spec.explain != null) { "an explain model was given but model.json has no explain entry" }
    }

    /** Whether this analyzer runs the not-a-lesion check. */
    val checksNotALesion: Boolean get() = notALesion != null

    /** Whether this analyzer can draw where the model looked (model.json `explain` and its model). */
    val explains: Boolean get() = heatmapModel != null

    /**
     * Analyses one photo; throws [IllegalArgumentException] if it cannot be decoded. With [explain]
     * (the setting "Show where the model looked") the answer carries an [Explanation]: the map of
     * `explain.tflite` over the model input, drawn by [Overlay.draw] at model.json's alpha, or why
     * there is none; without it `explain.tflite` is not run.
     */
    fun analyse(photo: ByteArray, explain: Boolean = false): Prediction {
        val start = clock()
        val decoded = decoder.decode(photo)
        val gate = QualityCheck.assess(decoded, spec.qualityGate)
        val input = preprocessor.toModelInput(decoded.image)
        val p = model.malignantProbability(input).coerceIn(0.0, 1.0)
        // Same order as the server's answer: the gate's issues, then not_a_lesion.
        val issues = gate.issues + (notALesion?.issues(input) ?: emptyList())
        val (label, advice) = Advisor.recommend(spec, p, issues)
        // Timed with the answer, as the server times `?explain=1`.
        val explanation = if (explain) explanation(input) else null
        return Prediction(
            label = label,
            malignantProbability = p,
            benignProbability = 1.0 - p,
            threshold = spec.threshold,
            recommendation = advice,
            quality = Quality(issues.isEmpty(), issues),
            model = spec.ref,
            disclaimer = spec.disclaimer,
            latencyMs = (clock() - start) / 1e6,
            source = InferenceSource.ON_DEVICE,
            explanation = explanation,
        )
    }

    private fun explanation(input: ModelInput): Explanation {
        val entry = spec.explain ?: return Explanation.Unavailable(NO_EXPLAIN_ENTRY, Explanation.NOTE)
        val explainer = heatmapModel ?: return Explanation.Unavailable(
            "this build of the app lacks ${entry.file} (model.json explain names it), so this phone cannot draw the map",
            Explanation.NOTE,
        )
        // The map is an extra: when it cannot be drawn the verdict stands and the answer says why.
        val map = try {
            explainer.heatmap(input)
        } catch (e: RuntimeException) {
            return Explanation.Unavailable("this phone could not run ${entry.file} (${e.message ?: e.javaClass.simpleName}); " +
                "the verdict above does not depend on it", Explanation.NOTE)
        }
        if (map.height != entry.heatmapHeight || map.width != entry.heatmapWidth) {
            return Explanation.Unavailable("${entry.file} gave a ${map.height}x${map.width} map but model.json " +
                "explain.outputs.heatmap.shape says [1, ${entry.heatmapHeight}, ${entry.heatmapWidth}]: copy all files " +
                "from the same export", Explanation.NOTE)
        }
        return Explanation.Available(entry.method, map, OverlayImage.Pixels(Overlay.draw(input, map, entry.alpha)), Explanation.NOTE)
    }

    companion object {
        /** Why a bundle without model.json `explain` draws no map (as the server's reason). */
        const val NO_EXPLAIN_ENTRY =
            "this phone's model has no map: its model.json has no explain entry (exported before explanations " +
                "existed, or a model that cannot be explained, such as an ensemble); re-export the bundle to get one"
    }
}
