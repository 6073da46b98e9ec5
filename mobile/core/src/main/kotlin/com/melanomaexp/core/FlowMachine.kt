package com.melanomaexp.core

/** Where predictions are computed; chosen in settings, switched to on-device when offline. */
enum class InferenceMode { REMOTE, ON_DEVICE }

/** What the camera screen knows about the CAMERA permission. */
enum class CameraPermission {
    /** Not asked yet: the screen asks on entry. */
    UNKNOWN,
    GRANTED,

    /** Denied once: explain why the camera is needed, offer to ask again or pick from the gallery. */
    RATIONALE,

    /** Denied for good: point to the system settings, offer the gallery. */
    DENIED,
}

/** Why the last analysis failed, reduced to what the error screen must offer. */
data class Failure(
    val title: String,
    val message: String,
    val canRetry: Boolean,
    val canUseOnDevice: Boolean,
    val canOpenSettings: Boolean,
)

/** The screens of the app; each is rendered by the Android layer from this state alone. */
sealed interface Screen {
    data object Onboarding : Screen
    data object Menu : Screen
    data object Instructions : Screen
    data object ModelInfo : Screen
    data object Settings : Screen
    data class Capture(val permission: CameraPermission) : Screen

    /** Uploading (remote) or analysing (on-device); [progress] in 0..1, null while indeterminate. */
    data class Working(val mode: InferenceMode, val progress: Float?, val attempt: Int) : Screen
    data class Result(val prediction: Prediction) : Screen
    data class Advice(val prediction: Prediction) : Screen
    data class Error(val failure: Failure, val mode: InferenceMode, val attempt: Int) : Screen
}

/** Everything the flow remembers: the screen, the preferred mode, and whether a photo is held. */
data class FlowState(val screen: Screen, val mode: InferenceMode, val holdsPhoto: Boolean = false)

/** Things that happen: user actions and the results of work the Android layer ran. */
sealed interface FlowEvent {
    data object OnboardingDone : FlowEvent
    data object OpenInstructions : FlowEvent
    data object OpenCamera : FlowEvent
    data object OpenSettings : FlowEvent
    data object OpenModelInfo : FlowEvent
    data class SettingsSaved(val mode: InferenceMode) : FlowEvent
    data class PermissionResult(val granted: Boolean, val showRationale: Boolean) : FlowEvent
    data object PhotoReady : FlowEvent
    data class Progress(val fraction: Float) : FlowEvent
    data class Succeeded(val prediction: Prediction) : FlowEvent
    data class Failed(val error: Throwable) : FlowEvent
    data object Cancel : FlowEvent
    data object Retry : FlowEvent
    data object UseOnDevice : FlowEvent
    data object ShowAdvice : FlowEvent
    data object NewPhoto : FlowEvent
    data object Back : FlowEvent
}

/** Work the Android layer must do after a transition. */
sealed interface Effect {
    data object MarkOnboardingSeen : Effect
    data object RequestCameraPermission : Effect
    data class Analyse(val mode: InferenceMode) : Effect
    data object CancelAnalysis : Effect

    /** Drop the photo bytes: after an answer, a cancel, or an error retrying cannot fix. */
    data object DiscardPhoto : Effect
    data object CloseApp : Effect
}

/** A new state plus the effects to run, in order. */
data class Transition(val state: FlowState, val effects: List<Effect> = emptyList())

/**
 * The app's screen flow as a pure function: instructions → menu → capture → working → result →
 * advice, with error and retry paths. Events that make no sense in the current state (a late
 * progress tick after a cancel) leave the state unchanged.
 */
object FlowMachine {
    /** The first state: onboarding on first launch, else the menu. */
    fun initial(onboardingSeen: Boolean, mode: InferenceMode): FlowState =
        FlowState(if (onboardingSeen) Screen.Menu else Screen.Onboarding, mode)

    /** Applies [event] to [state]. */
    fun reduce(state: FlowState, event: FlowEvent): Transition {
        val screen = state.screen
        return when (event) {
            FlowEvent.OnboardingDone ->
                if (screen == Screen.Onboarding) go(state, Screen.Menu, Effect.MarkOnboardingSeen)
                else if (screen == Screen.Instructions) go(state, Screen.Menu) else stay(state)
            FlowEvent.OpenInstructions -> fromMenu(state, Screen.Instructions)
            FlowEvent.OpenModelInfo -> fromMenu(state, Screen.ModelInfo)
            FlowEvent.OpenSettings -> if (screen is Screen.Error || screen == Screen.Menu) {
                leaveWithPhotoDropped(state, Screen.Settings)
            } else stay(state)
            is FlowEvent.SettingsSaved ->
                if (screen == Screen.Settings) Transition(state.copy(screen = Screen.Menu, mode = event.mode)) else stay(state)
            FlowEvent.OpenCamera, FlowEvent.NewPhoto -> openCamera(state)
            is FlowEvent.PermissionResult -> onPermission(state, event)
            FlowEvent.PhotoReady -> if (screen is Screen.Capture || screen == Screen.Menu) {
                startWork(state.copy(holdsPhoto = true), state.mode, attempt = 1)
            } else stay(state)
            is FlowEvent.Progress -> if (screen is Screen.Working) {
                Transition(state.copy(screen = screen.copy(progress = event.fraction.coerceIn(0f, 1f))))
            } else stay(state)
            is FlowEvent.Succeeded -> onSuccess(state, event.prediction)
            is FlowEvent.Failed -> onFailure(state, event.error)
            FlowEvent.Cancel -> if (screen is Screen.Working) {
                Transition(
                    state.copy(screen = Screen.Capture(CameraPermission.GRANTED), holdsPhoto = false),
                    listOf(Effect.CancelAnalysis, Effect.DiscardPhoto),
                )
            } else stay(state)
            FlowEvent.Retry -> if (screen is Screen.Error && screen.failure.canRetry && state.holdsPhoto) {
                startWork(state, screen.mode, attempt = screen.attempt + 1)
            } else stay(state)
            FlowEvent.UseOnDevice -> if (screen is Screen.Error && screen.failure.canUseOnDevice && state.holdsPhoto) {
                startWork(state, InferenceMode.ON_DEVICE, attempt = 1)
            } else stay(state)
            FlowEvent.ShowAdvice -> if (screen is Screen.Result) go(state, Screen.Advice(screen.prediction)) else stay(state)
            FlowEvent.Back -> back(state)
        }
    }

    private fun go(state: FlowState, screen: Screen, vararg effects: Effect) =
        Transition(state.copy(screen = screen), effects.toList())

    private fun stay(state: FlowState) = Transition(state)

    private fun fromMenu(state: FlowState, target: Screen) =
        if (state.screen == Screen.Menu) go(state, target) else stay(state)

    /** Leaving an error screen drops the photo it kept for a retry. */
    private fun leaveWithPhotoDropped(state: FlowState, target: Screen): Transition =
        if (state.holdsPhoto) Transition(state.copy(screen = target, holdsPhoto = false), listOf(Effect.DiscardPhoto))
        else go(state, target)

    private fun openCamera(state: FlowState): Transition {
        val s = state.screen
        val allowed = s == Screen.Menu || s is Screen.Result || s is Screen.Advice || s is Screen.Error
        if (!allowed) return stay(state)
        val dropped = leaveWithPhotoDropped(state, Screen.Capture(CameraPermission.UNKNOWN))
        return dropped.copy(effects = dropped.effects + Effect.RequestCameraPermission)
    }

    private fun onPermission(state: FlowState, event: FlowEvent.PermissionResult): Transition {
        if (state.screen !is Screen.Capture) return stay(state)
        val permission = when {
            event.granted -> CameraPermission.GRANTED
            event.showRationale -> CameraPermission.RATIONALE
            else -> CameraPermission.DENIED
        }
        return go(state, Screen.Capture(permission))
    }

    private fun startWork(state: FlowState, mode: InferenceMode, attempt: Int): Transition {
        val progress = if (mode == InferenceMode.REMOTE) 0f else null
        return Transition(state.copy(screen = Screen.Working(mode, progress, attempt)), listOf(Effect.Analyse(mode)))
    }

    private fun onSuccess(state: FlowState, prediction: Prediction): Transition {
        // A late answer after a cancel still must not keep the photo alive.
        if (state.screen !is Screen.Working) return Transition(state, listOf(Effect.DiscardPhoto))
        return Transition(state.copy(screen = Screen.Result(prediction), holdsPhoto = false), listOf(Effect.DiscardPhoto))
    }

    private fun onFailure(state: FlowState, error: Throwable): Transition {
        val screen = state.screen as? Screen.Working ?: return stay(state)
        if (error is ApiError.Cancelled) return stay(state) // the Cancel event already moved on
        val failure = describeFailure(error, screen.mode)
        val keep = failure.canRetry || failure.canUseOnDevice
        return Transition(
            state.copy(screen = Screen.Error(failure, screen.mode, screen.attempt), holdsPhoto = keep),
            if (keep) emptyList() else listOf(Effect.DiscardPhoto),
        )
    }

    private fun back(state: FlowState): Transition = when (val s = state.screen) {
        Screen.Menu, Screen.Onboarding -> Transition(state, listOf(Effect.CloseApp))
        is Screen.Working -> reduce(state, FlowEvent.Cancel)
        is Screen.Advice -> go(state, Screen.Result(s.prediction))
        else -> leaveWithPhotoDropped(state, Screen.Menu)
    }

    /** Maps an error to what the error screen says and offers. */
    fun describeFailure(error: Throwable, mode: InferenceMode): Failure = when (error) {
        is ApiError.Network -> Failure(
            "No connection", "The analysis server could not be reached. You can analyse the photo on this phone instead.",
            canRetry = true, canUseOnDevice = mode == InferenceMode.REMOTE, canOpenSettings = true,
        )
        is ApiError.Timeout -> Failure(
            "The server did not answer in time", "Try again, or analyse the photo on this phone instead.",
            canRetry = true, canUseOnDevice = mode == InferenceMode.REMOTE, canOpenSettings = false,
        )
        is ApiError.Unauthorized -> Failure(
            "API key not accepted", "Check the API key in the settings. (${error.message})",
            canRetry = false, canUseOnDevice = false, canOpenSettings = true,
        )
        is ApiError.BadImage -> Failure(
            "The photo could not be read", "Please take the photo again. (${error.message})",
            canRetry = false, canUseOnDevice = false, canOpenSettings = false,
        )
        is ApiError.TooLarge -> Failure(
            "The photo is too large", "Please take the photo again at a lower resolution. (${error.message})",
            canRetry = false, canUseOnDevice = false, canOpenSettings = false,
        )
        is ApiError.UnsupportedType -> Failure(
            "Unsupported image format", "Please use a JPEG, PNG or WebP photo. (${error.message})",
            canRetry = false, canUseOnDevice = false, canOpenSettings = false,
        )
        is ApiError.Server -> Failure(
            "The server had a problem", "HTTP ${error.status}: ${error.message}",
            canRetry = error.retryable, canUseOnDevice = mode == InferenceMode.REMOTE, canOpenSettings = false,
        )
        is ApiError.InvalidResponse -> Failure(
            "Unexpected answer", "The endpoint did not answer like the melanoma API. Check the URL in the settings.",
            canRetry = false, canUseOnDevice = mode == InferenceMode.REMOTE, canOpenSettings = true,
        )
        else -> Failure(
            "Analysis failed", error.message ?: error.javaClass.simpleName,
            canRetry = mode == InferenceMode.ON_DEVICE, canUseOnDevice = false, canOpenSettings = false,
        )
    }
}
