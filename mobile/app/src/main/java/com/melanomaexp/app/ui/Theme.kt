package com.melanomaexp.app.ui

import androidx.compose.foundation.isSystemInDarkTheme
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.darkColorScheme
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.ui.graphics.Color
import com.melanomaexp.core.Tone

private val Brand = Color(0xFF35536B)
private val Light = lightColorScheme(primary = Brand, secondary = Color(0xFF6B4A3A), background = Color(0xFFF4EDE6))
private val Dark = darkColorScheme(primary = Color(0xFF9CC0DB), secondary = Color(0xFFD7B7A6))

@Composable
fun MelanomaTheme(content: @Composable () -> Unit) {
    MaterialTheme(colorScheme = if (isSystemInDarkTheme()) Dark else Light, content = content)
}

/** Colour for a result's tone; "reassuring" is still amber-free blue, never a "safe" green. */
fun Tone.color(): Color = when (this) {
    Tone.REASSURING_BUT_CAUTIOUS -> Color(0xFF35536B)
    Tone.CAUTION -> Color(0xFFB26A00)
    Tone.URGENT -> Color(0xFFB3261E)
}
