package com.melanomaexp.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.viewModels
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.lifecycleScope
import androidx.lifecycle.repeatOnLifecycle
import com.melanomaexp.app.ui.MelanomaApp
import com.melanomaexp.app.ui.MelanomaTheme
import kotlinx.coroutines.launch

/** The single activity: renders the flow state with Compose; all decisions live in the core. */
class MainActivity : ComponentActivity() {
    private val flow: FlowViewModel by viewModels { FlowViewModel.Factory }
    private val settings: SettingsViewModel by viewModels { SettingsViewModel.Factory }
    private val modelInfo: ModelInfoViewModel by viewModels { ModelInfoViewModel.Factory }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        lifecycleScope.launch {
            repeatOnLifecycle(Lifecycle.State.STARTED) { flow.closeApp.collect { finish() } }
        }
        setContent {
            MelanomaTheme {
                MelanomaApp(flow, settings, modelInfo)
            }
        }
    }
}
