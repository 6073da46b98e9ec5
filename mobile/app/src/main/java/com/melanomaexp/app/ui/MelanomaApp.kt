package com.melanomaexp.app.ui

import androidx.activity.compose.BackHandler
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.melanomaexp.app.FlowViewModel
import com.melanomaexp.app.ModelInfoViewModel
import com.melanomaexp.app.SettingsViewModel
import com.melanomaexp.core.FlowEvent
import com.melanomaexp.core.Presentation
import com.melanomaexp.core.Screen

/** Renders the current [Screen]; every button only sends a [FlowEvent]. */
@Composable
fun MelanomaApp(flow: FlowViewModel, settings: SettingsViewModel, modelInfo: ModelInfoViewModel) {
    val state by flow.state.collectAsStateWithLifecycle()
    val send = flow::onEvent
    BackHandler { send(FlowEvent.Back) }
    when (val screen = state.screen) {
        Screen.Onboarding, Screen.Instructions -> InstructionsScreen(
            tips = Presentation.photoTips,
            onDone = { send(FlowEvent.OnboardingDone) },
        )
        Screen.Menu -> MenuScreen(send, onGalleryPhoto = flow::onPhoto)
        Screen.ModelInfo -> ModelInfoScreen(modelInfo, onBack = { send(FlowEvent.Back) })
        Screen.Settings -> SettingsScreen(
            viewModel = settings,
            onSaved = { saved -> send(FlowEvent.SettingsSaved(saved.mode)) },
            onCancel = { settings.reset(); send(FlowEvent.Back) },
        )
        is Screen.Capture -> CaptureScreen(screen.permission, send, onPhoto = flow::onPhoto)
        is Screen.Working -> WorkingScreen(screen, onCancel = { send(FlowEvent.Cancel) })
        is Screen.Result -> ResultScreen(
            view = Presentation.result(screen.prediction),
            explanation = Presentation.explanation(screen.prediction, requested = flow.showExplanation),
            onAdvice = { send(FlowEvent.ShowAdvice) },
            onNewPhoto = { send(FlowEvent.NewPhoto) },
        )
        is Screen.Advice -> AdviceScreen(
            view = Presentation.advice(screen.prediction),
            onBack = { send(FlowEvent.Back) },
            onMenu = { send(FlowEvent.Back); send(FlowEvent.Back) },
        )
        is Screen.Error -> ErrorScreen(screen.failure, send)
    }
}
