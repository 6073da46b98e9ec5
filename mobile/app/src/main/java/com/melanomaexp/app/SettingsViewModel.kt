package com.melanomaexp.app

import androidx.lifecycle.ViewModel
import androidx.lifecycle.ViewModelProvider.AndroidViewModelFactory.Companion.APPLICATION_KEY
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import com.melanomaexp.core.AppSettings
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow

/** The settings flow: edit, validate with the core's rules, persist. */
class SettingsViewModel(private val store: SettingsStore) : ViewModel() {
    data class UiState(val draft: AppSettings, val errors: Map<String, String> = emptyMap())

    private val _state = MutableStateFlow(UiState(store.load()))
    val state: StateFlow<UiState> = _state.asStateFlow()

    fun edit(change: (AppSettings) -> AppSettings) {
        _state.value = UiState(change(_state.value.draft))
    }

    /** Saves when valid and returns the saved settings; otherwise shows the errors and returns null. */
    fun save(): AppSettings? {
        val draft = _state.value.draft
        val errors = draft.validate()
        if (errors.isNotEmpty()) {
            _state.value = UiState(draft, errors)
            return null
        }
        store.save(draft)
        return draft
    }

    /** Discards unsaved edits (when the screen is left without saving). */
    fun reset() {
        _state.value = UiState(store.load())
    }

    companion object {
        val Factory = viewModelFactory {
            initializer { SettingsViewModel((this[APPLICATION_KEY] as MelanomaApplication).container.settings) }
        }
    }
}
