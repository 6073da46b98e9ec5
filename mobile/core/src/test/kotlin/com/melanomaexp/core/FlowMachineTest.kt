package com.melanomaexp.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

/** The screen flow: instructions → menu → capture → working → result → advice, plus error paths. */
class FlowMachineTest {
    private fun run(start: FlowState, vararg events: FlowEvent): Pair<FlowState, List<Effect>> {
        var state = start
        val effects = mutableListOf<Effect>()
        for (e in events) {
            val t = FlowMachine.reduce(state, e)
            state = t.state
            effects += t.effects
        }
        return state to effects
    }

    private val menu = FlowMachine.initial(onboardingSeen = true, mode = InferenceMode.REMOTE)
    private fun working(mode: InferenceMode = InferenceMode.REMOTE) = run(
        FlowMachine.initial(true, mode), FlowEvent.OpenCamera,
        FlowEvent.PermissionResult(granted = true, showRationale = false), FlowEvent.PhotoReady,
    ).first

    @Test
    fun `first launch shows the instructions once, then the menu`() {
        val first = FlowMachine.initial(onboardingSeen = false, mode = InferenceMode.REMOTE)
        assertEquals(Screen.Onboarding, first.screen)
        val (state, effects) = run(first, FlowEvent.OnboardingDone)
        assertEquals(Screen.Menu, state.screen)
        assertEquals(listOf(Effect.MarkOnboardingSeen), effects)
        assertEquals(Screen.Menu, FlowMachine.initial(onboardingSeen = true, mode = InferenceMode.REMOTE).screen)
    }

    @Test
    fun `the happy path ends on the advice and drops the photo`() {
        val (state, effects) = run(
            menu, FlowEvent.OpenCamera, FlowEvent.PermissionResult(true, false), FlowEvent.PhotoReady,
            FlowEvent.Progress(0.5f), FlowEvent.Succeeded(samplePrediction()), FlowEvent.ShowAdvice,
        )
        assertEquals(Screen.Advice(samplePrediction()), state.screen)
        assertFalse(state.holdsPhoto)
        assertEquals(
            listOf(Effect.RequestCameraPermission, Effect.Analyse(InferenceMode.REMOTE), Effect.DiscardPhoto),
            effects,
        )
    }

    @Test
    fun `upload progress is tracked and clamped`() {
        val (state, _) = run(working(), FlowEvent.Progress(0.4f))
        assertEquals(Screen.Working(InferenceMode.REMOTE, 0.4f, 1), state.screen)
        assertEquals(1f, (run(state, FlowEvent.Progress(7f)).first.screen as Screen.Working).progress)
    }

    @Test
    fun `permission denial leads to the rationale, then to the settings hint`() {
        val capture = run(menu, FlowEvent.OpenCamera).first
        assertEquals(Screen.Capture(CameraPermission.UNKNOWN), capture.screen)
        assertEquals(Screen.Capture(CameraPermission.RATIONALE), run(capture, FlowEvent.PermissionResult(false, true)).first.screen)
        assertEquals(Screen.Capture(CameraPermission.DENIED), run(capture, FlowEvent.PermissionResult(false, false)).first.screen)
    }

    @Test
    fun `a gallery pick works even when the camera was denied`() {
        val (state, effects) = run(menu, FlowEvent.OpenCamera, FlowEvent.PermissionResult(false, false), FlowEvent.PhotoReady)
        assertTrue(state.screen is Screen.Working)
        assertTrue(state.holdsPhoto)
        assertEquals(Effect.Analyse(InferenceMode.REMOTE), effects.last())
    }

    @Test
    fun `cancel stops the upload, drops the photo and ignores the late answer`() {
        val (cancelled, effects) = run(working(), FlowEvent.Cancel)
        assertEquals(Screen.Capture(CameraPermission.GRANTED), cancelled.screen)
        assertFalse(cancelled.holdsPhoto)
        assertEquals(listOf(Effect.CancelAnalysis, Effect.DiscardPhoto), effects)
        val late = FlowMachine.reduce(cancelled, FlowEvent.Succeeded(samplePrediction()))
        assertEquals(cancelled, late.state)
        assertEquals(listOf(Effect.DiscardPhoto), late.effects)
        assertEquals(cancelled, FlowMachine.reduce(cancelled, FlowEvent.Progress(0.9f)).state)
    }

    @Test
    fun `offline offers on-device inference with the kept photo`() {
        val (failed, _) = run(working(), FlowEvent.Failed(ApiError.Network("unreachable")))
        val error = failed.screen as Screen.Error
        assertTrue(error.failure.canUseOnDevice)
        assertTrue(error.failure.canRetry)
        assertTrue("photo kept for the fallback", failed.holdsPhoto)
        val (onDevice, effects) = run(failed, FlowEvent.UseOnDevice)
        assertEquals(Screen.Working(InferenceMode.ON_DEVICE, null, 1), onDevice.screen)
        assertEquals(listOf(Effect.Analyse(InferenceMode.ON_DEVICE)), effects)
        val (done, _) = run(onDevice, FlowEvent.Succeeded(samplePrediction()))
        assertTrue(done.screen is Screen.Result)
        assertFalse(done.holdsPhoto)
    }

    @Test
    fun `a timeout offers retry, counting attempts`() {
        val (failed, _) = run(working(), FlowEvent.Failed(ApiError.Timeout("slow")))
        assertEquals("The server did not answer in time", (failed.screen as Screen.Error).failure.title)
        val (retried, effects) = run(failed, FlowEvent.Retry)
        assertEquals(Screen.Working(InferenceMode.REMOTE, 0f, 2), retried.screen)
        assertEquals(listOf(Effect.Analyse(InferenceMode.REMOTE)), effects)
        val (again, _) = run(retried, FlowEvent.Failed(ApiError.Timeout("slow")), FlowEvent.Retry)
        assertEquals(3, (again.screen as Screen.Working).attempt)
    }

    @Test
    fun `a wrong key points to the settings and drops the photo`() {
        val (failed, effects) = run(working(), FlowEvent.Failed(ApiError.Unauthorized("unauthorized", "bad key")))
        val failure = (failed.screen as Screen.Error).failure
        assertTrue(failure.canOpenSettings)
        assertFalse(failure.canRetry)
        assertFalse(failure.canUseOnDevice)
        assertFalse(failed.holdsPhoto)
        assertEquals(listOf(Effect.DiscardPhoto), effects)
        assertEquals(failed, FlowMachine.reduce(failed, FlowEvent.Retry).state)
        assertEquals(Screen.Settings, run(failed, FlowEvent.OpenSettings).first.screen)
    }

    @Test
    fun `an unreadable photo asks for a new one`() {
        val (failed, _) = run(working(), FlowEvent.Failed(ApiError.BadImage("invalid_image", "not an image")))
        assertEquals("The photo could not be read", (failed.screen as Screen.Error).failure.title)
        val (camera, effects) = run(failed, FlowEvent.NewPhoto)
        assertEquals(Screen.Capture(CameraPermission.UNKNOWN), camera.screen)
        assertEquals(listOf(Effect.RequestCameraPermission), effects)
    }

    @Test
    fun `on-device mode goes straight to local analysis and never offers itself as fallback`() {
        val state = working(InferenceMode.ON_DEVICE)
        assertEquals(Screen.Working(InferenceMode.ON_DEVICE, null, 1), state.screen)
        val failed = run(state, FlowEvent.Failed(IllegalArgumentException("not a decodable image"))).first
        assertFalse((failed.screen as Screen.Error).failure.canUseOnDevice)
    }

    @Test
    fun `back navigates up and leaving an error drops its photo`() {
        val (result, _) = run(working(), FlowEvent.Succeeded(samplePrediction()), FlowEvent.ShowAdvice, FlowEvent.Back)
        assertEquals(Screen.Result(samplePrediction()), result.screen)
        assertEquals(Screen.Menu, run(result, FlowEvent.Back).first.screen)
        val (failed, _) = run(working(), FlowEvent.Failed(ApiError.Network("offline")))
        val (left, effects) = run(failed, FlowEvent.Back)
        assertEquals(Screen.Menu, left.screen)
        assertFalse(left.holdsPhoto)
        assertEquals(listOf(Effect.DiscardPhoto), effects)
        assertEquals(listOf(Effect.CloseApp), FlowMachine.reduce(menu, FlowEvent.Back).effects)
    }

    @Test
    fun `settings change the mode used for the next photo`() {
        val (state, _) = run(menu, FlowEvent.OpenSettings, FlowEvent.SettingsSaved(InferenceMode.ON_DEVICE))
        assertEquals(Screen.Menu, state.screen)
        assertEquals(InferenceMode.ON_DEVICE, state.mode)
        val (next, effects) = run(state, FlowEvent.OpenCamera, FlowEvent.PermissionResult(true, false), FlowEvent.PhotoReady)
        assertEquals(InferenceMode.ON_DEVICE, (next.screen as Screen.Working).mode)
        assertEquals(Effect.Analyse(InferenceMode.ON_DEVICE), effects.last())
    }

    @Test
    fun `menu entries open instructions and model information`() {
        assertEquals(Screen.Instructions, run(menu, FlowEvent.OpenInstructions).first.screen)
        assertEquals(Screen.Menu, run(menu, FlowEvent.OpenInstructions, FlowEvent.OnboardingDone).first.screen)
        assertEquals(Screen.ModelInfo, run(menu, FlowEvent.OpenModelInfo).first.screen)
        // Nonsense in a state changes nothing.
        assertEquals(menu, FlowMachine.reduce(menu, FlowEvent.ShowAdvice).state)
        assertEquals(menu, FlowMachine.reduce(menu, FlowEvent.Retry).state)
    }

    @Test
    fun `in any event sequence a photo is only held while it can still be analysed`() {
        val events = listOf(
            FlowEvent.OnboardingDone, FlowEvent.OpenInstructions, FlowEvent.OpenCamera, FlowEvent.OpenSettings,
            FlowEvent.OpenModelInfo, FlowEvent.SettingsSaved(InferenceMode.REMOTE), FlowEvent.SettingsSaved(InferenceMode.ON_DEVICE),
            FlowEvent.PermissionResult(true, false), FlowEvent.PermissionResult(false, true), FlowEvent.PhotoReady,
            FlowEvent.Progress(0.3f), FlowEvent.Succeeded(samplePrediction()), FlowEvent.Failed(ApiError.Network("x")),
            FlowEvent.Failed(ApiError.Timeout("x")), FlowEvent.Failed(ApiError.BadImage("c", "m")),
            FlowEvent.Failed(ApiError.Cancelled()), FlowEvent.Cancel, FlowEvent.Retry, FlowEvent.UseOnDevice,
            FlowEvent.ShowAdvice, FlowEvent.NewPhoto, FlowEvent.Back,
        )
        val random = java.util.Random(42)
        repeat(3000) {
            var state = FlowMachine.initial(random.nextBoolean(), InferenceMode.entries[random.nextInt(2)])
            repeat(25) {
                val t = FlowMachine.reduce(state, events[random.nextInt(events.size)])
                val where = "${state.screen::class.simpleName} -> ${t.state.screen::class.simpleName}"
                if (t.state.holdsPhoto) {
                    assertTrue("photo held on $where", t.state.screen is Screen.Working || t.state.screen is Screen.Error)
                }
                if (t.effects.any { it is Effect.Analyse }) assertTrue("analyse without a photo: $where", t.state.holdsPhoto)
                if (state.holdsPhoto && !t.state.holdsPhoto) assertTrue("photo dropped silently: $where", Effect.DiscardPhoto in t.effects)
                state = t.state
            }
        }
    }
}
