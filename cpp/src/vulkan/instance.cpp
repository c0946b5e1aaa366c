#include "vulkan/instance.hpp"

#include "vulkan/fork_policy.hpp"

#include <pthread.h>

#include <cstdlib>
#include <new>
#include <cstring>
#include <mutex>
#include <string>

#include "geyser/device.hpp"

namespace geyser {

namespace {

std::mutex g_instance_mutex;
std::weak_ptr<Instance> g_instance;
// Once created, the instance lives as long as the process: NVIDIA's driver refused
// vkCreateInstance (VK_ERROR_INCOMPATIBLE_DRIVER) after a few dozen create/destroy cycles in one
// process (docs/hardware.md, run 13), and creating one is slow anyway. Deliberately never freed.
std::shared_ptr<Instance>* g_keep_alive = nullptr;

// A forked child inherits a copy of the parent's VkInstance, which no driver lets it use: the
// child forgets it (without destroying it: that would call into the driver on the parent's
// objects) so its first Device creates an instance of its own. Objects the child inherited
// from the parent stay unusable there, as the Vulkan loader and drivers require.
std::mutex g_messages_mutex;  // validation messages; re-initialised in a forked child too
std::vector<std::string> g_messages;

bool g_forked_after_vulkan = false;
// True while Instance::get is between its first loader call and publishing the instance (or
// failing). A child forked from another thread in that window cannot know which drivers the
// parent loaded, so it is refused as if a refusing driver had been found.
bool g_opening = false;
bool g_forked_while_opening = false;
uint64_t g_fork_generation = 0;
// The name of a driver the instance found that must not be touched in a forked child
// (fork_policy.hpp); plain bytes, so the child reads the parent's copy without any Vulkan call.
char g_fork_refusing_driver[VK_MAX_DRIVER_NAME_SIZE] = {};

void forget_instance_in_child() {
    g_forked_while_opening = g_forked_while_opening || g_opening;
    g_forked_after_vulkan = g_forked_after_vulkan || g_opening || !g_instance.expired();
    g_opening = false;
    ++g_fork_generation;
    new (&g_messages_mutex) std::mutex();
    new (&g_instance_mutex) std::mutex();
    new (&g_instance) std::weak_ptr<Instance>();
    g_keep_alive = nullptr;  // the parent's copy stays unused, and unfreed
}

const bool g_atfork_registered = [] {
    pthread_atfork(nullptr, nullptr, forget_instance_in_child);
    return true;
}();

bool g_validation = false;

bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::strcmp(v, "0") != 0;
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                     VkDebugUtilsMessageTypeFlagsEXT,
                                                     const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                     void*) {
    // The 1.3.239 layer tracks timeline values per VkSemaphore, so a value another process (or
    // another VkDevice) signalled through the shared payload looks to it like one going
    // backwards. Geyser checks that rule itself before every vkSignalSemaphore (Semaphore::signal
    // refuses a value not above the payload's current one), so this report is always wrong for
    // Geyser's shared timelines (docs/hardware.md, runs 1, 8 and 11).
    if (data && data->pMessageIdName && std::strcmp(data->pMessageIdName, "VUID-VkSemaphoreSignalInfo-value-03259") == 0) {
        return VK_FALSE;
    }
    std::string text = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error: " : "warning: ";
    if (data && data->pMessageIdName) text += std::string(data->pMessageIdName) + ": ";
    if (data && data->pMessage) text += data->pMessage;
    std::lock_guard<std::mutex> lock(g_messages_mutex);
    g_messages.push_back(std::move(text));
    return VK_FALSE;
}

bool has_layer(const char* name) {
    uint32_t count = 0;
    vkEnumerateInstanceLayerProperties(&count, nullptr);
    std::vector<VkLayerProperties> layers(count);
    vkEnumerateInstanceLayerProperties(&count, layers.data());
    for (const auto& l : layers)
        if (std::strcmp(l.layerName, name) == 0) return true;
    return false;
}

bool has_instance_extension(const char* name) {
    uint32_t count = 0;
    vkEnumerateInstanceExtensionProperties(nullptr, &count, nullptr);
    std::vector<VkExtensionProperties> exts(count);
    vkEnumerateInstanceExtensionProperties(nullptr, &count, exts.data());
    for (const auto& e : exts)
        if (std::strcmp(e.extensionName, name) == 0) return true;
    return false;
}

// Notes the first enumerated driver that fork_policy.hpp lists. Driver properties are core in
// Vulkan 1.2; older devices are not checked (no listed driver offers less than 1.2).
void note_fork_refusing_driver(const std::vector<VkPhysicalDevice>& devices) {
    for (VkPhysicalDevice pd : devices) {
        VkPhysicalDeviceProperties basic{};
        vkGetPhysicalDeviceProperties(pd, &basic);
        if (basic.apiVersion < VK_API_VERSION_1_2) continue;
        VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
        VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
        props.pNext = &driver;
        vkGetPhysicalDeviceProperties2(pd, &props);
        if (driver_refuses_forked_children(static_cast<int32_t>(driver.driverID))) {
            std::memcpy(g_fork_refusing_driver, driver.driverName, sizeof g_fork_refusing_driver);
            g_fork_refusing_driver[sizeof g_fork_refusing_driver - 1] = '\0';
            return;
        }
    }
}

const char* kInstallAdvice =
    "install a Vulkan loader and driver (Debian/Ubuntu: apt-get install libvulkan1 "
    "mesa-vulkan-drivers; on NVIDIA, the proprietary driver's Vulkan ICD)";

}  // namespace

std::shared_ptr<Instance> Instance::get() {
    std::lock_guard<std::mutex> lock(g_instance_mutex);
    if (auto live = g_instance.lock()) return live;

    if (g_forked_after_vulkan && (g_fork_refusing_driver[0] != '\0' || g_forked_while_opening)) {
        // Before any call into the loader or driver: trying is what harms the parent. The loader
        // would load every driver, so the child gets no Vulkan at all, whichever device it wants.
        const std::string why =
            g_fork_refusing_driver[0] != '\0'
                ? std::string("this process was forked after its parent had opened Vulkan, which includes the '") +
                      g_fork_refusing_driver +
                      "' driver; that driver cannot be used in such a child (it refuses the device there, and a "
                      "child that tries can leave the parent's next vkCreateDevice blocked), so Geyser uses no "
                      "Vulkan here"
                : std::string("this process was forked while its parent was opening Vulkan, so which drivers it "
                              "loaded is unknown and Geyser uses no Vulkan here");
        throw VulkanUnavailableError(why + ". Start worker processes with the 'spawn' or 'forkserver' method, or "
                                           "fork before Geyser first uses Vulkan in the parent");
    }
    struct OpeningFlag {
        OpeningFlag() { g_opening = true; }
        ~OpeningFlag() { g_opening = false; }
    } opening;
    // volk opens libvulkan.so.1 at run time, so importing Geyser never needs the loader.
    static const VkResult loader = volkInitialize();
    if (loader != VK_SUCCESS) {
        throw VulkanUnavailableError(std::string("no Vulkan loader (libvulkan.so.1) found: ") + kInstallAdvice);
    }
    if (volkGetInstanceVersion() < VK_API_VERSION_1_1) {
        throw VulkanUnavailableError("the Vulkan loader is older than 1.1; external memory needs 1.1 or newer");
    }

    std::shared_ptr<Instance> inst(new Instance());
    std::vector<const char*> layers;
    std::vector<const char*> extensions;
    const bool validation = env_flag("GEYSER_VALIDATION");
    if (validation) {
        if (!has_layer("VK_LAYER_KHRONOS_validation")) {
            throw VulkanUnavailableError(
                "GEYSER_VALIDATION is set but VK_LAYER_KHRONOS_validation is not installed "
                "(Debian: apt-get install vulkan-validationlayers)");
        }
        if (!has_instance_extension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
            throw VulkanUnavailableError("GEYSER_VALIDATION is set but VK_EXT_debug_utils is missing");
        }
        layers.push_back("VK_LAYER_KHRONOS_validation");
        extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    }

    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "geyser";
    app.pEngineName = "geyser";
    app.apiVersion = volkGetInstanceVersion() >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_1;
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    ci.enabledLayerCount = static_cast<uint32_t>(layers.size());
    ci.ppEnabledLayerNames = layers.data();
    ci.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
    ci.ppEnabledExtensionNames = extensions.data();
    VkResult r = vkCreateInstance(&ci, nullptr, &inst->instance_);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        throw VulkanUnavailableError(std::string("no Vulkan driver found: ") + kInstallAdvice);
    }
    check_vk(r, "vkCreateInstance");
    volkLoadInstanceOnly(inst->instance_);

    if (validation) {
        VkDebugUtilsMessengerCreateInfoEXT mi{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
        mi.messageSeverity =
            VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
        mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
        mi.pfnUserCallback = on_validation_message;
        check_vk(vkCreateDebugUtilsMessengerEXT(inst->instance_, &mi, nullptr, &inst->messenger_),
                 "vkCreateDebugUtilsMessengerEXT");
        g_validation = true;
    }

    uint32_t count = 0;
    check_vk(vkEnumeratePhysicalDevices(inst->instance_, &count, nullptr), "vkEnumeratePhysicalDevices");
    inst->physical_.resize(count);
    check_vk(vkEnumeratePhysicalDevices(inst->instance_, &count, inst->physical_.data()),
             "vkEnumeratePhysicalDevices");
    inst->physical_.resize(count);
    if (count == 0) {
        throw VulkanUnavailableError(std::string("the Vulkan loader found no physical device: ") + kInstallAdvice);
    }
    note_fork_refusing_driver(inst->physical_);
    g_instance = inst;
    g_keep_alive = new std::shared_ptr<Instance>(inst);
    return inst;
}

Instance::~Instance() {
    if (messenger_ != VK_NULL_HANDLE) vkDestroyDebugUtilsMessengerEXT(instance_, messenger_, nullptr);
    if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

bool forked_after_vulkan() noexcept { return g_forked_after_vulkan; }

uint64_t fork_generation() noexcept { return g_fork_generation; }

bool driver_refuses_forked_children(int32_t vk_driver_id) noexcept {
    return vk_driver_id == VK_DRIVER_ID_NVIDIA_PROPRIETARY;
}

std::vector<std::string> validation_messages() {
    std::lock_guard<std::mutex> lock(g_messages_mutex);
    return g_messages;
}

void clear_validation_messages() {
    std::lock_guard<std::mutex> lock(g_messages_mutex);
    g_messages.clear();
}

bool validation_enabled() {
    std::lock_guard<std::mutex> lock(g_instance_mutex);
    return g_validation;
}

}  // namespace geyser
