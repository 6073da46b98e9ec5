package com.melanomaexp.app

import androidx.lifecycle.ViewModel
import androidx.lifecycle.ViewModelProvider.AndroidViewModelFactory.Companion.APPLICATION_KEY
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import com.melanomaexp.core.CancellationSignal
import com.melanomaexp.core.Effect
import com.melanomaexp.core.FlowEvent
import com.melanomaexp.core.FlowMachine
import com.melanomaexp.core.FlowState
import com.melanomaexp.core.InferenceMode
import com.melanomaexp.core.Prediction
import com.melanomaexp.core.UploadJpeg
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.receiveAsFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * The main flow (onboarding → menu → capture → working → result → advice): feeds events to the
 * core's [FlowMachine] and runs the effects it asks for. It holds the only copy of the photo (and of
 * its upload), and drops both when the machine says so (after the answer, on cancel, on errors a
 * retry cannot fix).
 */
class FlowViewModel(private val container: AppContainer) : ViewModel() {
    /**
     * The photo as captured or picked, and — made on the first remote analysis, kept for a retry —
     * the JPEG that is uploaded: downscaled to model.json `upload_max_side_px`, upright, no metadata.
     * On-device analysis reads the original (it never leaves the phone; its decoder subsamples).
     */
    private class Photo(val bytes: ByteArray, val mimeType: String) {
        @Volatile
        var upload: UploadJpeg? = null
    }

    private val _state = MutableStateFlow(
        FlowMachine.initial(container.settings.onboardingSeen, container.settings.load().mode)
    )
    val state: StateFlow<FlowState> = _state.asStateFlow()

    private val _closeApp = Channel<Unit>(Channel.CONFLATED)
    val closeApp = _closeApp.receiveAsFlow()

    private var photo: Photo? = null
    private var work: Job? = null
    private var cancel: CancellationSignal? = null

    /** The setting "Show where the model looked" (analyses, remote or on-device, then carry the overlay). */
    val showExplanation: Boolean get() = container.settings.load().showExplanation

    /** Applies a user action or a work result (call on the main thread). */
    fun onEvent(event: FlowEvent) {
        val transition = FlowMachine.reduce(_state.value, event)
        _state.value = transition.state
        transition.effects.forEach(::run)
    }

    /** A photo from the camera or the gallery, held in memory only. */
    fun onPhoto(bytes: ByteArray, mimeType: String) {
        photo = Photo(bytes, mimeType)
        onEvent(FlowEvent.PhotoReady)
    }

    private fun run(effect: Effect) {
        when (effect) {
            Effect.MarkOnboardingSeen -> container.settings.onboardingSeen = true
            Effect.RequestCameraPermission -> Unit // the capture screen asks while its permission is UNKNOWN
            is Effect.Analyse -> analyse(effect.mode)
            Effect.CancelAnalysis -> {
                cancel?.cancel()
                work?.cancel()
            }
            Effect.DiscardPhoto -> {
                photo?.bytes?.fill(0)
                photo?.upload?.bytes?.fill(0)
                photo = null
            }
            Effect.CloseApp -> _closeApp.trySend(Unit)
        }
    }

    private fun analyse(mode: InferenceMode) {
        val current = photo ?: return onEvent(FlowEvent.Failed(IllegalStateException("the photo is no longer available")))
        val signal = CancellationSignal().also { cancel = it }
        work = viewModelScope.launch {
            val result = withContext(Dispatchers.IO) {
                runCatching { predict(mode, current, signal) }
            }
            result.fold({ onEvent(FlowEvent.Succeeded(it)) }, { onEvent(FlowEvent.Failed(it)) })
        }
    }

    private fun predict(mode: InferenceMode, current: Photo, signal: CancellationSignal): Prediction = when (mode) {
        InferenceMode.REMOTE -> {
            // A 12-50 MP photo would not fit the Lambda path (~4.5 MB) nor upload fast: send the
            // downscaled JPEG (a few hundred kB), made once per photo.
            val upload = current.upload ?: container.prepareUpload(current.bytes).also { current.upload = it }
            // "Show where the model looked": the answer then carries the overlay (kept in memory with the result only).
            container.apiClient().predict(upload.bytes, upload.contentType, { sent, total ->
                viewModelScope.launch { onEvent(FlowEvent.Progress(sent.toFloat() / total)) }
            }, signal, explain = showExplanation)
        }
        // The same setting: explain.tflite runs only when it is on (the overlay stays in memory with the result).
        InferenceMode.ON_DEVICE -> container.onDeviceAnalyzer().analyse(current.bytes, explain = showExplanation)
    }

    override fun onCleared() {
        run(Effect.CancelAnalysis)
        run(Effect.DiscardPhoto)
    }

    companion object {
        val Factory = viewModelFactory {
            initializer { FlowViewModel((this[APPLICATION_KEY] as MelanomaApplication).container) }
        }
    }
}
