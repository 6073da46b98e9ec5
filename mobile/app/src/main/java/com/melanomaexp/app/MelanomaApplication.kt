package com.melanomaexp.app

import android.app.Application

/** Holds the app-wide [AppContainer] (manual dependency injection: the graph is tiny). */
class MelanomaApplication : Application() {
    lateinit var container: AppContainer
        private set

    override fun onCreate() {
        super.onCreate()
        container = AppContainer(this)
    }
}
