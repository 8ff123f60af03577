# Firmware build (GNU make). Run from a build folder prepared by edgeimpro.boards.build (`edgeimpro build`),
# which writes config.mk (board, flags), gen/ (eip_board_config.h, memory.ld) and src/ (symlinks to these
# firmware sources and to the model folder); after that, `make -C BUILD_DIR` rebuilds by hand.
# Every path here is relative to the build folder and free of spaces: make cannot quote a path.
include config.mk

CC := $(CROSS)gcc
OBJCOPY := $(CROSS)objcopy

APP := $(EIP_FIRMWARE_DIR)/app
COMMON := $(EIP_FIRMWARE_DIR)/boards/common
RUNTIME := $(EIP_FIRMWARE_DIR)/runtime

CFLAGS := $(CPU_FLAGS) -std=c11 -O2 -g -Wall -Wextra -Werror -ffunction-sections -fdata-sections -fno-common \
	-Igen -I$(APP) -I$(COMMON) -I$(RUNTIME)/include -I$(MODEL_DIR) $(DEFINES)
LDFLAGS := $(CPU_FLAGS) -nostartfiles --specs=nano.specs -Wl,--gc-sections -Wl,-Map=firmware.map \
	-Lgen -T$(COMMON)/sections.ld

# Kernel variant (config.mk): `reference` (runtime/kernels/*.c) or `dsp`, which compiles each file of
# runtime/kernels/arm_dsp/ instead of the reference file of the same name (needs a core with the DSP extension).
KERNELS ?= reference
KERNEL_VARIANT_DIRS := dsp:$(RUNTIME)/kernels/arm_dsp
KERNEL_VARIANT_DIR := $(word 2,$(subst :, ,$(filter $(KERNELS):%,$(KERNEL_VARIANT_DIRS))))
ifeq ($(KERNELS),reference)
else ifeq ($(KERNEL_VARIANT_DIR),)
$(error unknown KERNELS=$(KERNELS): use reference or dsp)
endif

# Each source folder gets its own object folder, so equal file names in two folders cannot collide.
DIRS := app:$(APP) runtime:$(RUNTIME)/src kernels:$(RUNTIME)/kernels model:$(MODEL_DIR) board:$(BOARD_DIR)
# an exported folder (export --target aot --core cortex-m4 ...) carries its own Arm DSP kernels in arm_dsp/
DIRS += $(if $(wildcard $(MODEL_DIR)/arm_dsp/*.c),model_dsp:$(MODEL_DIR)/arm_dsp)
ifneq ($(KERNEL_VARIANT_DIR),)
DIRS += kernels_$(KERNELS):$(KERNEL_VARIANT_DIR)
endif
COMMON_SRCS := startup.c fatal.c counter_$(COUNTER).c uart_$(UART_DRIVER).c

srcs_of = $(notdir $(wildcard $(1)/*.c))
# a reference kernel replaced by the variant's file of the same name is not built
VARIANT_SRCS := $(if $(KERNEL_VARIANT_DIR),$(call srcs_of,$(KERNEL_VARIANT_DIR)))
dir_srcs = $(if $(filter kernels,$(1)),$(filter-out $(VARIANT_SRCS),$(call srcs_of,$(2))),$(call srcs_of,$(2)))
OBJS := $(foreach d,$(DIRS),$(patsubst %.c,obj/$(word 1,$(subst :, ,$(d)))/%.o,\
	$(call dir_srcs,$(word 1,$(subst :, ,$(d))),$(word 2,$(subst :, ,$(d))))))
OBJS += $(patsubst %.c,obj/common/%.o,$(COMMON_SRCS))

all: firmware.elf firmware.bin firmware.hex

define compile_rule
obj/$(1)/%.o: $(2)/%.c config.mk gen/eip_board_config.h
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -MMD -MP -c $$< -o $$@
endef
$(foreach d,$(DIRS),$(eval $(call compile_rule,$(word 1,$(subst :, ,$(d))),$(word 2,$(subst :, ,$(d))))))
$(eval $(call compile_rule,common,$(COMMON)))

firmware.elf: $(OBJS) $(COMMON)/sections.ld gen/memory.ld
	$(CC) $(LDFLAGS) $(OBJS) -lm -o $@

firmware.bin: firmware.elf
	$(OBJCOPY) -O binary $< $@

firmware.hex: firmware.elf
	$(OBJCOPY) -O ihex $< $@

clean:
	rm -rf obj firmware.elf firmware.bin firmware.hex firmware.map

.PHONY: all clean
-include $(OBJS:.o=.d)
