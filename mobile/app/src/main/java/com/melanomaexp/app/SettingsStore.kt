package com.melanomaexp.app

import android.content.Context
import androidx.core.content.edit
import com.melanomaexp.core.AppSettings
import com.melanomaexp.core.InferenceMode

/** Persists [AppSettings] and the onboarding flag in private SharedPreferences (not backed up). */
class SettingsStore(context: Context) {
    private val prefs = context.getSharedPreferences("settings", Context.MODE_PRIVATE)

    fun load(): AppSettings {
        val defaults = AppSettings()
        return AppSettings(
            endpointUrl = prefs.getString(KEY_ENDPOINT, null) ?: defaults.endpointUrl,
            apiKey = prefs.getString(KEY_API_KEY, null) ?: defaults.apiKey,
            mode = prefs.getString(KEY_MODE, null)?.let { runCatching { InferenceMode.valueOf(it) }.getOrNull() } ?: defaults.mode,
            timeoutSeconds = prefs.getInt(KEY_TIMEOUT, defaults.timeoutSeconds),
            showExplanation = prefs.getBoolean(KEY_EXPLAIN, defaults.showExplanation),
        )
    }

    fun save(settings: AppSettings) = prefs.edit {
        putString(KEY_ENDPOINT, settings.endpointUrl.trim())
        putString(KEY_API_KEY, settings.apiKey)
        putString(KEY_MODE, settings.mode.name)
        putInt(KEY_TIMEOUT, settings.timeoutSeconds)
        putBoolean(KEY_EXPLAIN, settings.showExplanation)
    }

    var onboardingSeen: Boolean
        get() = prefs.getBoolean(KEY_ONBOARDING, false)
        set(value) = prefs.edit { putBoolean(KEY_ONBOARDING, value) }

    private companion object {
        const val KEY_ENDPOINT = "endpoint_url"
        const val KEY_API_KEY = "api_key"
        const val KEY_MODE = "mode"
        const val KEY_TIMEOUT = "timeout_s"
        const val KEY_ONBOARDING = "onboarding_seen"
        const val KEY_EXPLAIN = "show_explanation"
    }
}
