package com.melanomaexp.app.ui

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import androidx.compose.foundation.Image
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.remember
import androidx.compose.ui.graphics.FilterQuality
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import com.melanomaexp.app.R
import com.melanomaexp.core.AdviceView
import com.melanomaexp.core.ExplanationView
import com.melanomaexp.core.Failure
import com.melanomaexp.core.FlowEvent
import com.melanomaexp.core.InferenceMode
import com.melanomaexp.core.OverlayImage
import com.melanomaexp.core.PhotoTip
import com.melanomaexp.core.ResultView
import com.melanomaexp.core.Screen

/** A scrolling column with the standard padding and the disclaimer at the bottom. */
@Composable
fun Page(disclaimer: String? = null, content: @Composable () -> Unit) {
    Column(
        Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        content()
        Spacer(Modifier.height(8.dp))
        Text(disclaimer ?: stringResource(R.string.disclaimer_short), style = MaterialTheme.typography.bodySmall)
    }
}

@Composable
fun InstructionsScreen(tips: List<PhotoTip>, onDone: () -> Unit) = Page {
    Text(stringResource(R.string.onboarding_title), style = MaterialTheme.typography.headlineSmall)
    tips.forEach { tip ->
        Card(Modifier.fillMaxWidth()) {
            Column(Modifier.padding(16.dp)) {
                Text(tip.title, fontWeight = FontWeight.Bold)
                Text(tip.text)
            }
        }
    }
    Button(onClick = onDone, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.onboarding_done)) }
}

@Composable
fun MenuScreen(send: (FlowEvent) -> Unit, onGalleryPhoto: (ByteArray, String) -> Unit) = Page {
    Text(stringResource(R.string.app_name), style = MaterialTheme.typography.headlineMedium)
    Button(onClick = { send(FlowEvent.OpenCamera) }, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.menu_camera)) }
    GalleryButton(onGalleryPhoto)
    OutlinedButton(onClick = { send(FlowEvent.OpenInstructions) }, modifier = Modifier.fillMaxWidth()) {
        Text(stringResource(R.string.menu_instructions))
    }
    OutlinedButton(onClick = { send(FlowEvent.OpenModelInfo) }, modifier = Modifier.fillMaxWidth()) {
        Text(stringResource(R.string.menu_model_info))
    }
    OutlinedButton(onClick = { send(FlowEvent.OpenSettings) }, modifier = Modifier.fillMaxWidth()) {
        Text(stringResource(R.string.menu_settings))
    }
}

@Composable
fun WorkingScreen(screen: Screen.Working, onCancel: () -> Unit) = Page {
    val remote = screen.mode == InferenceMode.REMOTE
    Text(stringResource(if (remote) R.string.working_remote else R.string.working_on_device), style = MaterialTheme.typography.titleLarge)
    val progress = screen.progress
    if (progress != null) {
        LinearProgressIndicator(progress = { progress }, modifier = Modifier.fillMaxWidth())
    } else {
        CircularProgressIndicator()
    }
    if (screen.attempt > 1) Text("Attempt ${screen.attempt}")
    OutlinedButton(onClick = onCancel) { Text(stringResource(R.string.cancel)) }
}

@Composable
fun ResultScreen(
    view: ResultView,
    explanation: ExplanationView?,
    onAdvice: () -> Unit,
    onNewPhoto: () -> Unit,
) = Page(view.disclaimer) {
    Text(view.headline, style = MaterialTheme.typography.headlineSmall, color = view.tone.color())
    if (view.retakeFirst) {
        // No lesion in the photo: the estimate is shown, but not as a gauge that reads like an answer.
        Text(view.probabilityText, style = MaterialTheme.typography.bodyMedium)
    } else {
        Text(view.probabilityText, style = MaterialTheme.typography.titleMedium)
        LinearProgressIndicator(progress = { view.malignantPercent / 100f }, color = view.tone.color(), modifier = Modifier.fillMaxWidth())
    }
    explanation?.let { ExplanationCard(it) }
    if (view.qualityWarnings.isNotEmpty()) {
        Card(Modifier.fillMaxWidth()) {
            Column(Modifier.padding(16.dp)) { view.qualityWarnings.forEach { Text(it) } }
        }
    }
    Text(view.sourceNote, style = MaterialTheme.typography.bodySmall)
    Button(onClick = onAdvice, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.show_advice)) }
    OutlinedButton(onClick = onNewPhoto, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.new_photo)) }
}

/**
 * "Where the model looked": the overlay (the model-input size) — the server's PNG or the phone's own
 * drawing — with its caveat, or why there is none.
 */
@Composable
fun ExplanationCard(view: ExplanationView) = Card(Modifier.fillMaxWidth()) {
    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(view.title, fontWeight = FontWeight.Bold)
        val overlay = view.overlay
        val bitmap = remember(overlay) {
            when (val image = overlay?.overlay) {
                is OverlayImage.Png -> BitmapFactory.decodeByteArray(image.bytes, 0, image.bytes.size)?.asImageBitmap()
                is OverlayImage.Pixels ->
                    Bitmap.createBitmap(image.image.pixels, image.width, image.height, Bitmap.Config.ARGB_8888).asImageBitmap()
                null -> null
            }
        }
        if (overlay != null && bitmap != null) {
            Image(
                bitmap = bitmap,
                contentDescription = view.title,
                filterQuality = FilterQuality.Low,
                modifier = Modifier.fillMaxWidth().aspectRatio(overlay.overlayWidth.toFloat() / overlay.overlayHeight),
            )
        }
        Text(view.text, style = MaterialTheme.typography.bodySmall)
        Text(view.note, style = MaterialTheme.typography.bodySmall)
    }
}

@Composable
fun AdviceScreen(view: AdviceView, onBack: () -> Unit, onMenu: () -> Unit) = Page(view.disclaimer) {
    Text(view.title, style = MaterialTheme.typography.headlineSmall, color = view.tone.color())
    Text(view.text, style = MaterialTheme.typography.bodyLarge)
    Text(view.alwaysSeeADoctorIf, fontWeight = FontWeight.Bold)
    OutlinedButton(onClick = onBack, modifier = Modifier.fillMaxWidth()) { Text("Back to the result") }
    OutlinedButton(onClick = onMenu, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.back_to_menu)) }
}

@Composable
fun ErrorScreen(failure: Failure, send: (FlowEvent) -> Unit) = Page {
    Text(failure.title, style = MaterialTheme.typography.headlineSmall, color = MaterialTheme.colorScheme.error)
    Text(failure.message)
    if (failure.canUseOnDevice) {
        Button(onClick = { send(FlowEvent.UseOnDevice) }, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.use_on_device)) }
    }
    if (failure.canRetry) {
        Button(onClick = { send(FlowEvent.Retry) }, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.retry)) }
    }
    if (failure.canOpenSettings) {
        OutlinedButton(onClick = { send(FlowEvent.OpenSettings) }, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.menu_settings)) }
    }
    OutlinedButton(onClick = { send(FlowEvent.NewPhoto) }, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.new_photo)) }
    OutlinedButton(onClick = { send(FlowEvent.Back) }, modifier = Modifier.fillMaxWidth()) { Text(stringResource(R.string.back_to_menu)) }
}
