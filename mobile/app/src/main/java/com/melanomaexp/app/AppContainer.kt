package com.melanomaexp.app

import android.content.Context
import android.util.Log
import com.melanomaexp.core.ApiClient
import com.melanomaexp.core.DistanceModel
import com.melanomaexp.core.ModelJson
import com.melanomaexp.core.ModelSpec
import com.melanomaexp.core.OnDeviceAnalyzer
import com.melanomaexp.core.ProbabilityModel

/**
 * Builds the core's objects with their Android implementations: settings on SharedPreferences,
 * the bundled model (assets/model.json + assets/model_int8.tflite, and assets/ood.tflite when
 * model.json has an `ood` entry) on LiteRT, photos on Bitmap.
 */
class AppContainer(private val context: Context) {
    val settings = SettingsStore(context)

    /** The bundled model.json, or null when the APK was built without a model (see README). */
    val bundledSpec: ModelSpec? by lazy {
        runCatching { context.assets.open(MODEL_JSON).use { ModelJson.parse(it.readBytes().decodeToString()) } }.getOrNull()
    }

    private val analyzer: OnDeviceAnalyzer by lazy {
        val spec = bundledSpec ?: throw IllegalStateException(
            "This build has no bundled model. Copy model.json and model_int8.tflite from an export " +
                "into app/src/main/assets (./gradlew :app:refreshModel -PbundleDir=...) and rebuild."
        )
        val decodeSide = maxOf(spec.input.height, spec.input.width, spec.qualityGate.analysisMaxSidePx)
        val classifier = LiteRtModel(context, MODEL_TFLITE, spec)
        val notALesion = if (hasNotALesionCheck) LiteRtModel(context, spec.ood!!.file, spec) else null
        OnDeviceAnalyzer(spec, BitmapImageDecoder(decodeSide), ProbabilityModel { classifier.output(it) },
            notALesion?.let { model -> DistanceModel { model.output(it) } })
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

    /** A client for the endpoint currently in the settings. */
    fun apiClient(): ApiClient = ApiClient(settings.load().endpoint())

    /** The on-device analyzer (LiteRT is loaded on first use, off the main thread). */
    fun onDeviceAnalyzer(): OnDeviceAnalyzer = analyzer

    companion object {
        const val MODEL_JSON = "model.json"
        const val MODEL_TFLITE = "model_int8.tflite"
        private const val TAG = "AppContainer"
    }
}
