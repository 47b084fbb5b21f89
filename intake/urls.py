from django.urls import path

from intake import views

urlpatterns = [
    path("", views.start, name="start"),
    path("form/interrupt-shown/", views.interrupt_shown, name="form-interrupt"),
    path("form/keep-open/", views.keep_open, name="form-keep-open"),
    path("form/close/", views.close, name="form-close"),
    path("form/closed/", views.closed, name="form-closed"),
    path("form/new/", views.start_new, name="form-new"),
    path("form/done/", views.done, name="form-done"),
    path("form/finish/", views.finish, name="form-finish"),
    path("form/put-aside/", views.put_aside, name="form-put-aside"),
    path("form/under-16/", views.under_16, name="form-under-16"),
    path("form/<slug:step>/", views.step, name="form-step"),
    path("resume/<slug:token>/", views.resume, name="form-resume"),
]
