package com.melanomaexp.app.ui

import android.Manifest
import android.app.Activity
import android.content.Context
import android.content.ContextWrapper
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.Matrix
import android.net.Uri
import android.provider.Settings
import android.widget.Toast
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.core.ImageProxy
import androidx.camera.view.CameraController
import androidx.camera.view.LifecycleCameraController
import androidx.camera.view.PreviewView
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.LocalLifecycleOwner
import com.melanomaexp.app.R
import com.melanomaexp.core.CameraPermission
import com.melanomaexp.core.FlowEvent
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.ByteArrayOutputStream

/** Camera with permission handling (ask, rationale, denied → system settings); gallery as alternative. */
@Composable
fun CaptureScreen(permission: CameraPermission, send: (FlowEvent) -> Unit, onPhoto: (ByteArray, String) -> Unit) {
    val context = LocalContext.current
    val launcher = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        val rationale = !granted && context.findActivity()?.shouldShowRequestPermissionRationale(Manifest.permission.CAMERA) == true
        send(FlowEvent.PermissionResult(granted, rationale))
    }
    LaunchedEffect(permission) {
        if (permission == CameraPermission.UNKNOWN) {
            val granted = ContextCompat.checkSelfPermission(context, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED
            if (granted) send(FlowEvent.PermissionResult(true, false)) else launcher.launch(Manifest.permission.CAMERA)
        }
    }
    when (permission) {
        CameraPermission.GRANTED -> CameraPreview(onPhoto)
        CameraPermission.UNKNOWN -> Page { CircularProgressIndicator() }
        CameraPermission.RATIONALE -> Page {
            Text(stringResource(R.string.camera_rationale))
            Button(onClick = { launcher.launch(Manifest.permission.CAMERA) }, modifier = Modifier.fillMaxWidth()) {
                Text(stringResource(R.string.camera_allow))
            }
            GalleryButton(onPhoto)
        }
        CameraPermission.DENIED -> Page {
            Text(stringResource(R.string.camera_denied))
            OutlinedButton(onClick = { context.openAppSettings() }, modifier = Modifier.fillMaxWidth()) {
                Text(stringResource(R.string.camera_open_settings))
            }
            GalleryButton(onPhoto)
        }
    }
}

/** Full-screen CameraX preview (tap to focus, flash off) with a shutter button; capture stays in memory. */
@Composable
private fun CameraPreview(onPhoto: (ByteArray, String) -> Unit) {
    val context = LocalContext.current
    val lifecycleOwner = LocalLifecycleOwner.current
    val controller = remember {
        LifecycleCameraController(context).apply {
            setEnabledUseCases(CameraController.IMAGE_CAPTURE)
            imageCaptureFlashMode = ImageCapture.FLASH_MODE_OFF // flash glare hides the lesion
        }
    }
    DisposableEffect(lifecycleOwner) {
        controller.bindToLifecycle(lifecycleOwner)
        onDispose { controller.unbind() }
    }
    Box(Modifier.fillMaxSize()) {
        AndroidView(factory = { PreviewView(it).apply { this.controller = controller } }, modifier = Modifier.fillMaxSize())
        Button(
            onClick = {
                controller.takePicture(ContextCompat.getMainExecutor(context), object : ImageCapture.OnImageCapturedCallback() {
                    override fun onCaptureSuccess(image: ImageProxy) {
                        val bytes = image.use { uprightJpeg(it) }
                        onPhoto(bytes, "image/jpeg")
                    }

                    override fun onError(exception: ImageCaptureException) {
                        Toast.makeText(context, "Could not take the photo: ${exception.message}", Toast.LENGTH_LONG).show()
                    }
                })
            },
            modifier = Modifier.align(Alignment.BottomCenter).padding(32.dp),
        ) { Text(stringResource(R.string.camera_shoot)) }
    }
}

/**
 * Re-encodes the capture upright: the rotation is applied to the pixels instead of an EXIF tag, and
 * no metadata (GPS, device) survives. This full-resolution copy stays in memory on the phone (the
 * on-device analysis reads it); what is uploaded is made from it by `AppContainer.prepareUpload`,
 * downscaled to model.json `upload_max_side_px` (the core's `UploadPhoto`).
 */
private fun uprightJpeg(image: ImageProxy): ByteArray {
    val bitmap = image.toBitmap()
    val degrees = image.imageInfo.rotationDegrees
    val upright = if (degrees == 0) bitmap else
        Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, Matrix().apply { postRotate(degrees.toFloat()) }, true)
    return ByteArrayOutputStream().use { out ->
        upright.compress(Bitmap.CompressFormat.JPEG, 95, out)
        out.toByteArray()
    }
}

/** The system photo picker: no storage permission, the app sees only the chosen photo. */
@Composable
fun GalleryButton(onPhoto: (ByteArray, String) -> Unit) {
    val context = LocalContext.current
    val scope = rememberCoroutineScope()
    val picker = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri: Uri? ->
        if (uri != null) scope.launch {
            val resolver = context.contentResolver
            val mime = resolver.getType(uri) ?: "image/jpeg"
            val bytes = withContext(Dispatchers.IO) { resolver.openInputStream(uri)?.use { it.readBytes() } }
            if (bytes != null) onPhoto(bytes, mime)
        }
    }
    OutlinedButton(
        onClick = { picker.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly)) },
        modifier = Modifier.fillMaxWidth(),
    ) { Text(stringResource(R.string.menu_gallery)) }
}

private fun Context.findActivity(): Activity? = when (this) {
    is Activity -> this
    is ContextWrapper -> baseContext.findActivity()
    else -> null
}

private fun Context.openAppSettings() {
    startActivity(Intent(Settings.ACTION_APPLICATION_DETAILS_SETTINGS, Uri.fromParts("package", packageName, null)))
}
