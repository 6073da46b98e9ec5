package com.melanomaexp.app.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.width
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.RadioButton
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.melanomaexp.app.R
import com.melanomaexp.app.SettingsViewModel
import com.melanomaexp.core.AppSettings
import com.melanomaexp.core.InferenceMode

/** Endpoint URL, API key, timeout, inference mode and "Show where the model looked"; validation comes from the core. */
@Composable
fun SettingsScreen(viewModel: SettingsViewModel, onSaved: (AppSettings) -> Unit, onCancel: () -> Unit) {
    val state by viewModel.state.collectAsStateWithLifecycle()
    val draft = state.draft
    Page {
        Text(stringResource(R.string.menu_settings), style = MaterialTheme.typography.headlineSmall)
        InferenceMode.entries.forEach { mode ->
            Row(verticalAlignment = Alignment.CenterVertically) {
                RadioButton(selected = draft.mode == mode, onClick = { viewModel.edit { it.copy(mode = mode) } })
                Text(stringResource(if (mode == InferenceMode.REMOTE) R.string.settings_mode_remote else R.string.settings_mode_on_device))
            }
        }
        // Where the model looked (Grad-CAM): remote analyses ask the server for the map (?explain=1).
        Row(verticalAlignment = Alignment.CenterVertically) {
            Switch(checked = draft.showExplanation, onCheckedChange = { on -> viewModel.edit { it.copy(showExplanation = on) } })
            Spacer(Modifier.width(12.dp))
            Column {
                Text(stringResource(R.string.settings_show_explanation))
                Text(stringResource(R.string.settings_show_explanation_hint), style = MaterialTheme.typography.bodySmall)
            }
        }
        OutlinedTextField(
            value = draft.endpointUrl, onValueChange = { v -> viewModel.edit { it.copy(endpointUrl = v) } },
            label = { Text(stringResource(R.string.settings_endpoint)) }, singleLine = true,
            isError = "endpointUrl" in state.errors, supportingText = state.errors["endpointUrl"]?.let { { Text(it) } },
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Uri), modifier = Modifier.fillMaxWidth(),
        )
        OutlinedTextField(
            value = draft.apiKey, onValueChange = { v -> viewModel.edit { it.copy(apiKey = v) } },
            label = { Text(stringResource(R.string.settings_api_key)) }, singleLine = true,
            visualTransformation = PasswordVisualTransformation(),
            isError = "apiKey" in state.errors, supportingText = state.errors["apiKey"]?.let { { Text(it) } },
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedTextField(
            value = draft.timeoutSeconds.toString(),
            onValueChange = { v -> v.toIntOrNull()?.let { n -> viewModel.edit { it.copy(timeoutSeconds = n) } } },
            label = { Text(stringResource(R.string.settings_timeout)) }, singleLine = true,
            isError = "timeoutSeconds" in state.errors, supportingText = state.errors["timeoutSeconds"]?.let { { Text(it) } },
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Number), modifier = Modifier.fillMaxWidth(),
        )
        Button(onClick = { viewModel.save()?.let(onSaved) }, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.save)) }
        OutlinedButton(onClick = onCancel, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.cancel)) }
    }
}
