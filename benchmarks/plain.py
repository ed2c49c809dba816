"""The app's own pipeline behind a plain Django view instead of the DRF ``APIView``.

Only for ``make bench``, to measure what the DRF view costs: the same caller checks
(called directly), the same recording, storing and answering.
"""

import time

from django.db import transaction
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from django_imcallback.conf import imcallback_settings
from django_imcallback.logs import log_delivery
from django_imcallback.permissions import CallerRefused
from django_imcallback.responses import error
from django_imcallback.views import CallbackView, answer, new_event


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class PlainCallbackView(View):
    def post(self, request, command=""):
        started = time.perf_counter()
        try:
            for permission in imcallback_settings.permission_classes:
                permission().has_permission(request, self)
        except CallerRefused as exc:
            return error(exc.status_code, str(exc.detail), headers=exc.headers)
        event = new_event(request, command)
        result = CallbackView._process(self, request, event)
        response = answer(result, event)
        log_delivery(event, response, time.perf_counter() - started)
        return response
