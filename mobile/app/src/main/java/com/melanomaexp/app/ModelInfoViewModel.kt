package com.melanomaexp.app

import androidx.lifecycle.ViewModel
import androidx.lifecycle.ViewModelProvider.AndroidViewModelFactory.Companion.APPLICATION_KEY
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import com.melanomaexp.core.ModelSpec
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** "Advanced information": the bundled model's card, and the server's model on request. */
class ModelInfoViewModel(private val container: AppContainer) : ViewModel() {
    data class UiState(
        val bundled: ModelSpec?,
        val bundledChecksNotALesion: Boolean = false,
        val remote: ModelSpec? = null,
        val remoteError: String? = null,
        val loading: Boolean = false,
    )

    private val _state = MutableStateFlow(UiState(container.bundledSpec, container.hasNotALesionCheck))
    val state: StateFlow<UiState> = _state.asStateFlow()

    fun loadRemote() {
        _state.value = _state.value.copy(loading = true, remoteError = null)
        viewModelScope.launch {
            val result = withContext(Dispatchers.IO) { runCatching { container.apiClient().model() } }
            _state.value = result.fold(
                { _state.value.copy(remote = it, loading = false) },
                { _state.value.copy(remoteError = it.message ?: it.javaClass.simpleName, loading = false) },
            )
        }
    }

    companion object {
        val Factory = viewModelFactory {
            initializer { ModelInfoViewModel((this[APPLICATION_KEY] as MelanomaApplication).container) }
        }
    }
}
