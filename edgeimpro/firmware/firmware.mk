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

# Kernel variant (config.mk): `reference` (runtime/kernels/*.c), `dsp` or `mve`. A variant is a chain of
# folders under runtime/kernels/, searched in order: a file of the first folder replaces the file of the same
# name in the second (if any) and in the reference kernels. `dsp` (a core with the DSP extension): arm_dsp;
# `mve` (Cortex-M55/M85, Helium): arm_mve, then arm_dsp for the kernels it does not vectorise.
# Kept equal to edgeimpro.codegen.package.VARIANT_DIRS (a test compares them).
KERNELS ?= reference
KERNEL_CHAIN_dsp := arm_dsp
KERNEL_CHAIN_mve := arm_mve arm_dsp
KERNEL_CHAIN := $(KERNEL_CHAIN_$(KERNELS))
ifeq ($(KERNELS),reference)
else ifeq ($(KERNEL_CHAIN),)
$(error unknown KERNELS=$(KERNELS): use reference, dsp or mve)
endif
KERNEL_FIRST := $(word 1,$(KERNEL_CHAIN))
KERNEL_SECOND := $(word 2,$(KERNEL_CHAIN))

# Each source folder gets its own object folder, so equal file names in two folders cannot collide.
DIRS := app:$(APP) runtime:$(RUNTIME)/src kernels:$(RUNTIME)/kernels model:$(MODEL_DIR) board:$(BOARD_DIR)
# an exported folder (export --target aot --core cortex-m4 ...) carries its own Arm kernels in arm_dsp/
# (and, for a Helium core, arm_mve/): its files are all distinct, the export picked them
DIRS += $(if $(wildcard $(MODEL_DIR)/arm_dsp/*.c),model_dsp:$(MODEL_DIR)/arm_dsp)
DIRS += $(if $(wildcard $(MODEL_DIR)/arm_mve/*.c),model_mve:$(MODEL_DIR)/arm_mve)
DIRS += $(foreach f,$(KERNEL_CHAIN),kernels_$(f):$(RUNTIME)/kernels/$(f))
COMMON_SRCS := startup.c fatal.c counter_$(COUNTER).c uart_$(UART_DRIVER).c

srcs_of = $(notdir $(wildcard $(1)/*.c))
# a kernel file is built from the first folder of the chain that has it (then the reference folder)
FIRST_SRCS := $(if $(KERNEL_FIRST),$(call srcs_of,$(RUNTIME)/kernels/$(KERNEL_FIRST)))
VARIANT_SRCS := $(FIRST_SRCS) $(if $(KERNEL_SECOND),$(call srcs_of,$(RUNTIME)/kernels/$(KERNEL_SECOND)))
dir_srcs = $(if $(filter kernels,$(1)),$(filter-out $(VARIANT_SRCS),$(call srcs_of,$(2))),\
	$(if $(filter kernels_$(KERNEL_SECOND),$(1)),$(filter-out $(FIRST_SRCS),$(call srcs_of,$(2))),\
	$(call srcs_of,$(2))))
OBJS := $(foreach d,$(DIRS),$(patsubst %.c,obj/$(word 1,$(subst :, ,$(d)))/%.o,\
	$(call dir_srcs,$(word 1,$(subst :, ,$(d))),$(word 2,$(subst :, ,$(d))))))
OBJS += $(patsubst %.c,obj/common/%.o,$(COMMON_SRCS))

all: firmware.elf firmware.bin firmware.hex

# The serial protocol (app/) is built for size: it waits on the link, and -Os takes 0.7 KiB off it. The
# runtime, kernels and model stay at -O2.
OPT_app := -Os

define compile_rule
obj/$(1)/%.o: $(2)/%.c config.mk gen/eip_board_config.h
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) $$(OPT_$(1)) -MMD -MP -c $$< -o $$@
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
