package com.melanomaexp.app

import android.content.Context
import android.util.Log
import com.melanomaexp.core.ApiClient
import com.melanomaexp.core.ApiError
import com.melanomaexp.core.HeatmapModel
import com.melanomaexp.core.OodScoreModel
import com.melanomaexp.core.ModelJson
import com.melanomaexp.core.ModelSpec
import com.melanomaexp.core.OnDeviceAnalyzer
import com.melanomaexp.core.ProbabilityModel
import com.melanomaexp.core.UploadJpeg
import com.melanomaexp.core.UploadPhoto

/**
 * Builds the core's objects with their Android implementations: settings on SharedPreferences,
 * the bundled model (assets/model.json + the LiteRT model its `on_device.recommended_model` names —
 * model.tflite or model_int8.tflite — assets/ood.tflite when model.json has an `ood` entry and
 * assets/explain.tflite when it has an `explain` entry) on LiteRT, photos on Bitmap.
 */
class AppContainer(private val context: Context) {
    val settings = SettingsStore(context)

    /** The bundled model.json, or null when the APK was built without a model (see README). */
    val bundledSpec: ModelSpec? by lazy {
        runCatching { context.assets.open(MODEL_JSON).use { ModelJson.parse(it.readBytes().decodeToString()) } }.getOrNull()
    }

    private val analyzer: OnDeviceAnalyzer by lazy {
        val spec = bundledSpec ?: throw IllegalStateException(
            "This build has no bundled model. Copy model.json and its on-device model from an export " +
                "into app/src/main/assets (./gradlew :app:refreshModel -PbundleDir=...) and rebuild."
        )
        // The bundle's choice (model.json on_device): int8 unless the export measured that it flips
        // decisions or loses sensitivity at the threshold; bundles without on_device: int8, as before.
        val modelFile = spec.onDeviceModelFile
        check(context.assets.list("")?.contains(modelFile) == true) {
            "model.json recommends the ${spec.onDevice.model.wire} model ($modelFile) for the phone, but this " +
                "build lacks it: run ./gradlew :app:refreshModel -PbundleDir=... on the same export and rebuild."
        }
        Log.i(TAG, "on-device model: $modelFile (${spec.onDevice.reason})")
        val decodeSide = maxOf(spec.input.height, spec.input.width, spec.qualityGate.analysisMaxSidePx)
        val classifier = LiteRtModel(context, modelFile, spec)
        val notALesion = if (hasNotALesionCheck) LiteRtModel(context, spec.ood!!.file, spec) else null
        // explain.tflite (the float model plus its gradient) is loaded on the first analysis that
        // asks where the model looked, like the server's; with the setting off it never runs.
        val explainer = if (hasExplainModel) lazy { LiteRtModel(context, spec.explain!!.file, spec) } else null
        OnDeviceAnalyzer(spec, BitmapImageDecoder(decodeSide), ProbabilityModel { classifier.output(it) },
            notALesion?.let { model -> OodScoreModel { model.output(it) } },
            explainer?.let { model -> HeatmapModel { model.value.heatmap(it) } })
    }

    /**
     * Whether on-device analysis runs the not-a-lesion check: model.json asks for it and the build
     * has its file. Like the server, a build without the file still analyses, without the check.
     */
    val hasNotALesionCheck: Boolean by lazy {
        val file = bundledSpec?.ood?.file ?: return@lazy false
        (context.assets.list("")?.contains(file) == true).also { present ->
            if (!present) Log.w(TAG, "model.json names $file but the build lacks it: no not-a-lesion check on this phone")
        }
    }

    /**
     * Whether on-device analysis can draw where the model looked: model.json has `explain` and the
     * build has its file. Without the file, an analysis that asks says why there is no map.
     */
    val hasExplainModel: Boolean by lazy {
        val file = bundledSpec?.explain?.file ?: return@lazy false
        (context.assets.list("")?.contains(file) == true).also { present ->
            if (!present) Log.w(TAG, "model.json names $file but the build lacks it: no map of where the model looked on this phone")
        }
    }

    /** A client for the endpoint currently in the settings. */
    fun apiClient(): ApiClient = ApiClient(settings.load().endpoint())

    /** The on-device analyzer (LiteRT is loaded on first use, off the main thread). */
    fun onDeviceAnalyzer(): OnDeviceAnalyzer = analyzer

    /**
     * The photo as it is uploaded (call off the main thread): decoded upright, its long side brought
     * down to model.json `quality_gate.upload_max_side_px` (the bundled model.json's; without one the
     * export's default, 1024), re-encoded as JPEG without metadata ([UploadPhoto]). JPEGs decode
     * subsampled by 2/4/8 while both sides stay >= that side, like the server's draft mode.
     */
    fun prepareUpload(photo: ByteArray): UploadJpeg {
        val maxSide = UploadPhoto.maxSide(bundledSpec)
        val decoded = try {
            BitmapImageDecoder(maxSide).decode(photo)
        } catch (e: IllegalArgumentException) {
            throw ApiError.BadImage("invalid_image", e.message ?: "the photo could not be decoded")
        }
        return UploadPhoto.prepare(decoded, maxSide, BitmapJpegEncoder)
    }

    companion object {
        const val MODEL_JSON = "model.json"
        private const val TAG = "AppContainer"
    }
}
