package com.melanomaexp.app.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Card
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.melanomaexp.app.ModelInfoViewModel
import com.melanomaexp.core.ModelSpec

/** "Advanced information": what the model is, what it is for, what it cannot do. */
@Composable
fun ModelInfoScreen(viewModel: ModelInfoViewModel, onBack: () -> Unit) {
    val state by viewModel.state.collectAsStateWithLifecycle()
    Page {
        Text("About the models", style = MaterialTheme.typography.headlineSmall)
        Text("On this phone", fontWeight = FontWeight.Bold)
        state.bundled?.let { ModelCard(it, notALesionCheck = state.bundledChecksNotALesion, onThisPhone = true) }
            ?: Text("This build has no on-device model (see mobile/README.md).")
        Text("On the server", fontWeight = FontWeight.Bold)
        when {
            state.loading -> CircularProgressIndicator()
            state.remote != null -> ModelCard(state.remote!!, notALesionCheck = state.remote!!.ood != null)
            else -> {
                state.remoteError?.let { Text(it, color = MaterialTheme.colorScheme.error) }
                OutlinedButton(onClick = viewModel::loadRemote) { Text("Ask the server") }
            }
        }
        OutlinedButton(onClick = onBack, modifier = Modifier.fillMaxWidth()) { Text("Back") }
    }
}

@Composable
private fun ModelCard(spec: ModelSpec, notALesionCheck: Boolean, onThisPhone: Boolean = false) = Card(Modifier.fillMaxWidth()) {
    Column(Modifier.padding(16.dp)) {
        Text("${spec.name} ${spec.version}", fontWeight = FontWeight.Bold)
        Text("Input ${spec.input.width}×${spec.input.height} px, decision threshold ${"%.2f".format(spec.threshold)}")
        if (onThisPhone) {
            // model.json on_device: which LiteRT model the phone runs, and why.
            Text("Runs the ${spec.onDevice.model.wire} model (${spec.onDevice.file}): ${spec.onDevice.reason}")
        }
        Text(if (notALesionCheck) "Checks that the photo shows a skin lesion" else "No check that the photo shows a skin lesion")
        if (spec.testMetrics.isNotEmpty()) {
            Text("Test metrics: " + spec.testMetrics.entries.joinToString { (k, v) -> "$k ${"%.3f".format(v)}" })
        }
        Text("Intended use: ${spec.intendedUse}")
        Text("Limitations:", fontWeight = FontWeight.Bold)
        spec.limitations.forEach { Text("• $it") }
        Text(spec.disclaimer, style = MaterialTheme.typography.bodySmall)
    }
}
