from .routers import OptionalSlashRouter
from .views import ApiKeyViewSet

router = OptionalSlashRouter()
router.register("api-keys", ApiKeyViewSet, basename="api-key")

urlpatterns = router.urls
